"""Answer a question about an image with a Mu vision checkpoint.

    python examples/generate_text_image2text.py --model MODEL_DIR --image photo.jpg --question "What sport is it?"

`--image` takes a file or an http(s) URL. The processor's chat template writes the reference's visual-QA prompt
and expands `<image>` to the image's feature tokens; the encoder reads them once, the decoder writes the answer.
"""

import argparse

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

import mu  # noqa: F401  (registers Mu with the Auto classes; `trust_remote_code=True` works without it)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", required=True)
parser.add_argument("--image", required=True)
parser.add_argument("--question", required=True)
parser.add_argument("--max-new-tokens", type=int, default=64)
args = parser.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.bfloat16 if device == "cuda" else torch.float32
processor = AutoProcessor.from_pretrained(args.model)
model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=dtype).to(device).eval()

messages = [
    {"role": "user", "content": [{"type": "image", "url": args.image}, {"type": "text", "text": args.question}]}
]
inputs = processor.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="pt")
inputs = inputs.to(device, dtype=dtype)
output = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
print(processor.decode(output[0], skip_special_tokens=True))
