# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The prompt formats of the reference Mu models."""

QA_PROMPT = (
    "Answer the following question based only on the context.\n"
    "###Question\n{question}\n###Context\n{context}\n###Answer\n"
)


def format_qa_prompt(question: str, context: str) -> str:
    """The extractive-QA prompt the reference text model was trained with."""
    return QA_PROMPT.format(question=question, context=context)


SUMMARY_PROMPT = "Summarize the following document in one sentence.\n###Document\n{document}\n###Summary\n"
CODE_TO_TEXT_PROMPT = "Write the documentation comment of the following code.\n###Code\n{code}\n###Docstring\n"


def format_summary_prompt(document: str) -> str:
    """The prompt of the XSum task runner (one-sentence summaries)."""
    return SUMMARY_PROMPT.format(document=document)


def format_code_to_text_prompt(code: str) -> str:
    """The prompt of the CodeXGLUE code-to-text task runner (docstring generation)."""
    return CODE_TO_TEXT_PROMPT.format(code=code)
