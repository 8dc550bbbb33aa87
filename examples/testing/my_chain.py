"""A user's own LangChain chain: the code under test in test_my_chain.py."""

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You summarise support tickets in one sentence."),
        ("human", "Summarise this ticket: {ticket}"),
    ]
)


def build_summary_chain(model: BaseChatModel) -> Runnable:
    """Prompt -> model -> plain text; the model is injected, so tests choose where it talks."""
    return PROMPT | model | StrOutputParser()
