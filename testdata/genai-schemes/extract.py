"""Writes one scheme's attribute list (testdata/genai-schemes/<scheme>.txt) from the
scheme's installed package. Run it with the virtualenv that holds the package:

    genai-openinference-python testdata/genai-schemes/extract.py openinference
    genai-openllmetry-python   testdata/genai-schemes/extract.py openllmetry
    genai-openlit-python       testdata/genai-schemes/extract.py openlit
"""
import os
import sys
from importlib.metadata import version

HERE = os.path.dirname(os.path.abspath(__file__))


def constants(cls):
    return [v for k, v in vars(cls).items() if isinstance(v, str) and not k.startswith("_")]


def openinference():
    import openinference.semconv.trace as t

    keys = constants(t.SpanAttributes) + constants(t.RerankerAttributes) + constants(t.ToolAttributes)

    def nested(prefix, cls):
        return [f"{prefix}.0.{v}" for v in constants(cls)]

    for p in ("llm.input_messages", "llm.output_messages"):
        keys += nested(p, t.MessageAttributes)
        keys += nested(p + ".0.message.contents", t.MessageContentAttributes)
        keys += nested(p + ".0.message.tool_calls", t.ToolCallAttributes)
    for p in ("retrieval.documents", "reranker.input_documents", "reranker.output_documents"):
        keys += nested(p, t.DocumentAttributes)
    keys += nested("embedding.embeddings", t.EmbeddingAttributes)
    keys += nested("llm.tools", t.ToolAttributes)
    keys += nested("llm.prompts", t.PromptAttributes)
    keys += nested("llm.choices", t.ChoiceAttributes)
    header = (
        "# OpenInference semantic conventions: every attribute key of openinference-semantic-conventions=="
        + version("openinference-semantic-conventions")
        + "\n# (PyPI), from the classes of openinference.semconv.trace: SpanAttributes, RerankerAttributes, ToolAttributes,\n"
        "# and the nested classes (messages, contents, tool calls, documents, embeddings, prompts, choices) under\n"
        "# the keys that hold them, with index 0. Regenerate: testdata/genai-schemes/extract.py.\n"
    )
    return header, list(dict.fromkeys(keys))


def openllmetry():
    import opentelemetry.semconv_ai as t

    header = (
        "# OpenLLMetry (Traceloop) semantic conventions: every value of SpanAttributes in\n"
        "# opentelemetry-semantic-conventions-ai==" + version("opentelemetry-semantic-conventions-ai")
        + " (PyPI), module opentelemetry.semconv_ai.\n# Regenerate: testdata/genai-schemes/extract.py.\n"
    )
    return header, list(dict.fromkeys(constants(t.SpanAttributes)))


def openlit():
    import openlit.semcov as t

    providers = {"aws.bedrock", "azure.ai.inference", "azure.ai.openai", "gcp.gemini", "ibm.watson.ai"}
    values = sorted({
        v for v in constants(t.SemanticConvention)
        if "." in v and " " not in v and not v.startswith("http") and v not in providers
    })
    header = (
        "# OpenLIT semantic conventions: every dotted value of SemanticConvention in openlit=="
        + version("openlit")
        + "\n# (PyPI), module openlit.semcov, less the provider-name values (aws.bedrock, azure.ai.inference,\n"
        "# azure.ai.openai, gcp.gemini, ibm.watson.ai). Attribute keys, and the metric and event names it\n"
        "# also sets as span attributes. Regenerate: testdata/genai-schemes/extract.py.\n"
    )
    return header, values


scheme = sys.argv[1]
header, keys = {"openinference": openinference, "openllmetry": openllmetry, "openlit": openlit}[scheme]()
with open(os.path.join(HERE, f"{scheme}.txt"), "w") as f:
    f.write(header + "\n".join(keys) + "\n")
