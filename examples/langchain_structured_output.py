"""LangChain: structured output into a pydantic model (three methods, and include_raw)."""

from pydantic import BaseModel, Field

from langchain_nugen import ChatNugen


class Landmark(BaseModel):
    """A landmark mentioned in a text."""

    name: str = Field(description="The landmark's name")
    city: str = Field(description="The city it stands in")
    height_m: int = Field(description="Its height in metres")


model = ChatNugen(temperature=0)
text = "The 'Eiffel Tower' in 'Paris' is 330 metres tall."

# Default: function calling. The model is forced to call a tool whose arguments are the
# schema, and the arguments are parsed into the pydantic class.
landmark = model.with_structured_output(Landmark).invoke(text)
print("function_calling:", repr(landmark))

# json_schema: the schema goes in response_format and the answer is JSON text.
landmark = model.with_structured_output(Landmark, method="json_schema").invoke(text)
print("json_schema:     ", repr(landmark))

# include_raw=True also returns the AIMessage (usage, metadata) and any parsing error,
# instead of raising when the model's output does not fit the schema.
result = model.with_structured_output(Landmark, include_raw=True).invoke(text)
print("include_raw:     ", repr(result["parsed"]), "| error:", result["parsing_error"])
print("tokens used:     ", result["raw"].usage_metadata["total_tokens"])
