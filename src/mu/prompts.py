# Copyright 2026 The Mu authors. Licensed under the MIT License.
"""The prompt formats of the reference Mu models."""

QA_PROMPT = (
    "Answer the following question based only on the context.\n"
    "###Question\n{question}\n###Context\n{context}\n###Answer\n"
)


def format_qa_prompt(question: str, context: str) -> str:
    """The extractive-QA prompt the reference text model was trained with."""
    return QA_PROMPT.format(question=question, context=context)
