"""The real `openai` Python client, instrumented by one of the GenAI instrumentation
libraries people use, calling the real llama-server; spans (and event logs) go over
OTLP/gRPC to llamacol.

Usage: genai_libraries.py LIBRARY CHAT_PORT EMBEDDINGS_PORT OTLP_GRPC_ENDPOINT
LIBRARY: official (opentelemetry-instrumentation-openai-v2), openllmetry (Traceloop's
opentelemetry-instrumentation-openai), openinference (openinference-instrumentation-openai),
openlit; or langchain: a LangChain chain (prompt, ChatOpenAI, parser, a tool) under
OpenInference's LangChain instrumentation alone (with the OpenAI one too, each model call
would be two LLM spans).

Every library runs with content capture on. Makes a non-streaming chat call, a streaming
one (with `stream_options.include_usage`) and an embeddings call (the embeddings server is
a second llama-server started with `--embeddings`). Prints one JSON object: each call's
kind, the model asked for and the one the server answered with, the `usage` the server
returned, and every text (prompts, completions, embedded input, tool arguments and
results, user and session ids) that must not reach an exporter.
"""
import json
import os
import sys
import time

library, chat_port, embeddings_port, otlp = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

# Content capture on, for each library in its own way (set before it is imported).
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_AND_EVENT"
os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
os.environ["OTEL_SERVICE_NAME"] = f"genai-{library}"

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402

resource = Resource.create({"service.name": f"genai-{library}"})
provider = TracerProvider(resource=resource)
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp, insecure=True)))
trace.set_tracer_provider(provider)

# Event logs (the official library sends content as log events too).
try:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=otlp, insecure=True))
    )
    set_logger_provider(logger_provider)
except ImportError:
    logger_provider = None

if library == "official":
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
elif library == "openllmetry":
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
elif library == "openinference":
    from openinference.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)
elif library == "langchain":
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument(tracer_provider=provider)
elif library == "openlit":
    import openlit

    # It finds the providers set above and uses them.
    openlit.init(
        application_name=f"genai-{library}",
        capture_message_content=True,
        disable_metrics=True,
    )
else:
    sys.exit(f"unknown library {library}")

import openai  # noqa: E402

MODEL = "tiny-llama"
chat = openai.OpenAI(base_url=f"http://127.0.0.1:{chat_port}/v1", api_key="not-needed")
embed = openai.OpenAI(base_url=f"http://127.0.0.1:{embeddings_port}/v1", api_key="not-needed")
calls = []
secrets = []


def prompt(kind):
    text = f"tell me about the {library} {kind} secret-{library}-{kind}-prompt"
    secrets.append(f"secret-{library}-{kind}-prompt")
    return text


def usage_of(usage):
    out = {"input": usage.prompt_tokens, "output": getattr(usage, "completion_tokens", None)}
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None and getattr(details, "cached_tokens", None) is not None:
        out["cache_read"] = details.cached_tokens
    return out


def remember_completion(text):
    # Only texts long enough not to occur by chance in other bytes.
    if text and len(text.strip()) >= 12:
        secrets.append(text.strip())


USER = f"alice-{library}@example.com"
secrets.append(USER)

if library != "langchain":
    # 1. Non-streaming chat.
    response = chat.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": f"system-secret-{library} be brief"},
            {"role": "user", "content": prompt("chat")},
        ],
        max_tokens=24,
        temperature=0.7,
        user=USER,
    )
    secrets.append(f"system-secret-{library}")
    remember_completion(response.choices[0].message.content)
    calls.append({
        "kind": "chat",
        "stream": False,
        "request_model": MODEL,
        "response_model": response.model,
        "usage": usage_of(response.usage),
    })

    # 2. Streaming chat, usage in the last chunk.
    started = time.time()
    stream = chat.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt("stream")}],
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, model = "", None, None
    for chunk in stream:
        model = chunk.model or model
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage
    remember_completion(text)
    calls.append({
        "kind": "chat",
        "stream": True,
        "request_model": MODEL,
        "response_model": model,
        "usage": usage_of(usage),
        "seconds": time.time() - started,
    })

    # 3. Embeddings.
    embedded = embed.embeddings.create(model=MODEL, input=prompt("embeddings"))
    calls.append({
        "kind": "embeddings",
        "stream": False,
        "request_model": MODEL,
        "response_model": embedded.model,
        "usage": {"input": embedded.usage.prompt_tokens},
    })

# 4. A LangChain chain that calls a tool (OpenInference's LangChain instrumentation).
if library == "langchain":
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from openinference.instrumentation import using_attributes

    @tool
    def lookup_order(order_id: str) -> str:
        """Looks up an order by its id."""
        return f"order {order_id} shipped secret-tool-result-{library}"

    secrets += [f"secret-tool-argument-{library}", f"secret-tool-result-{library}"]
    llm = ChatOpenAI(
        model=MODEL,
        base_url=f"http://127.0.0.1:{chat_port}/v1",
        api_key="not-needed",
        max_tokens=16,
    )
    chain = (
        ChatPromptTemplate.from_messages([("user", "{question}")])
        | llm
        | StrOutputParser()
        | (lambda answer: lookup_order.invoke({"order_id": f"secret-tool-argument-{library}"}))
    )
    secrets.append(f"secret-session-{library}")
    with using_attributes(session_id=f"secret-session-{library}", user_id=USER):
        answer = chain.invoke({"question": prompt("chain")})
    remember_completion(answer)
    calls.append({"kind": "chain", "stream": False, "request_model": MODEL})

provider.force_flush()
provider.shutdown()
if logger_provider is not None:
    logger_provider.force_flush()
    logger_provider.shutdown()
print(json.dumps({"library": library, "calls": calls, "secrets": secrets}))
