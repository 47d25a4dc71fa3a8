//! The attributes of the instrumentation schemes that the genai processor leaves as they
//! are, and why (README "genai processor" shows this table; a test checks every key of
//! each scheme's own list, in `testdata/genai-schemes/`, is mapped, current, content, an
//! identifier or here, so a key added upstream fails a test instead of passing silently).

/// Keys left as they are, grouped by why. A key ending in `.` stands for every key
/// under it; only other conventions' namespaces are kept whole.
#[rustfmt::skip]
pub static KEPT: &[(&str, &[&str])] = &[
    ("other conventions' namespaces (databases and vector stores, MCP, GPUs, guardrails, the \
      OpenAI provider, the server): those conventions apply; their content keys are content",
     NAMESPACES),
    ("request and response settings with no GenAI convention (provider-specific parameters, \
      OpenAI batch, file and assistant ids)", SETTINGS),
    ("agent, workflow, tool, framework and retrieval bookkeeping: names, ids, counts, settings, \
      durations and outcomes, no user content (the content keys among them are content)",
     BOOKKEEPING),
    ("evaluation, annotation and moderation results", EVALUATIONS),
    ("token, cost and speed figures with no GenAI convention, or of a second model \
      (OpenInference `decision.*`): kept beside the conventions' counts, never added to them",
     FIGURES),
    ("event and metric names the schemes list beside their attribute keys (`genai_metrics` \
      reads the streaming-chunk events as first chunks)", NAMES),
    ("the application's own labels (identifiers among Traceloop's association properties are \
      hashed or dropped by `identities`)", LABELS),
];

#[rustfmt::skip]
const NAMESPACES: &[&str] = &[
    "db.", "pinecone.", "qdrant.", "mcp.", "gpu.", "guard.", "openai.", "server.address",
    "server.port",
];

#[rustfmt::skip]
const SETTINGS: &[&str] = &[
    "gen_ai.llm.base_url", "gen_ai.llm.max_tokens", "gen_ai.llm.model", "gen_ai.llm.provider",
    "gen_ai.llm.temperature", "gen_ai.llm.top_p", "gen_ai.model.handle", "gen_ai.openai.api_type",
    "gen_ai.openai.api_version", "gen_ai.openai.assistant.id", "gen_ai.openai.batch.endpoint",
    "gen_ai.openai.batch.id", "gen_ai.openai.batch.input_file_id", "gen_ai.openai.batch.model",
    "gen_ai.openai.batch.output_file_id", "gen_ai.openai.batch.request_counts.completed",
    "gen_ai.openai.batch.request_counts.failed", "gen_ai.openai.batch.request_counts.total",
    "gen_ai.openai.batch.status", "gen_ai.openai.conversation.id", "gen_ai.openai.file.bytes",
    "gen_ai.openai.file.filename", "gen_ai.openai.file.id", "gen_ai.openai.file.purpose",
    "gen_ai.openai.fine_tuning.fine_tuned_model", "gen_ai.openai.fine_tuning.hyperparameters",
    "gen_ai.openai.fine_tuning.job_id", "gen_ai.openai.fine_tuning.model",
    "gen_ai.openai.fine_tuning.status", "gen_ai.openai.fine_tuning.trained_tokens",
    "gen_ai.openai.fine_tuning.training_file", "gen_ai.openai.realtime.session_id",
    "gen_ai.openai.run.id", "gen_ai.openai.thread.id", "gen_ai.openai.video.id",
    "gen_ai.openai.video.model", "gen_ai.openai.video.seconds", "gen_ai.openai.video.size",
    "gen_ai.openai.video.status", "gen_ai.request.async", "gen_ai.request.audio.language",
    "gen_ai.request.audio_duration", "gen_ai.request.audio_response_format",
    "gen_ai.request.audio_settings", "gen_ai.request.audio_speed", "gen_ai.request.audio_voice",
    "gen_ai.request.context_window", "gen_ai.request.enable_reasoner",
    "gen_ai.request.image_quality", "gen_ai.request.image_size", "gen_ai.request.image_style",
    "gen_ai.request.include_final_message", "gen_ai.request.message_count",
    "gen_ai.request.parameters", "gen_ai.request.provider", "gen_ai.request.reasoning_effort",
    "gen_ai.request.reasoning_summary", "gen_ai.request.repetition_penalty",
    "gen_ai.request.return_sequence_no", "gen_ai.request.speech.language_code",
    "gen_ai.request.speech.with_timestamps", "gen_ai.request.structured_output_schema",
    "gen_ai.request.tool_choice", "gen_ai.request.translate.enable_preprocessing",
    "gen_ai.request.translate.mode", "gen_ai.request.translate.numerals_format",
    "gen_ai.request.translate.output_script", "gen_ai.request.translate.source_language",
    "gen_ai.request.translate.speaker_gender", "gen_ai.request.translate.target_language",
    "gen_ai.request.transliterate.numerals_format", "gen_ai.request.transliterate.source_language",
    "gen_ai.request.transliterate.spoken_form",
    "gen_ai.request.transliterate.spoken_form_numerals_language",
    "gen_ai.request.transliterate.target_language", "gen_ai.request.tts.enable_preprocessing",
    "gen_ai.request.tts.loudness", "gen_ai.request.tts.output_audio_codec",
    "gen_ai.request.tts.pace", "gen_ai.request.tts.pitch", "gen_ai.request.tts.speaker",
    "gen_ai.request.tts.speech_sample_rate", "gen_ai.request.tts.target_language_code",
    "gen_ai.request.wiki_grounding", "gen_ai.response.audio.duration",
    "gen_ai.response.language_code", "gen_ai.response.reasoning_effort",
    "gen_ai.response.script_code", "gen_ai.response.speech.detected_language",
    "gen_ai.response.translate.source_language", "gen_ai.response.transliterate.source_language",
    "gen_ai.stream.mode", "llm.request.reasoning_effort", "llm.request.repetition_penalty",
    "llm.watsonx.decoding_method", "llm.watsonx.max_new_tokens", "llm.watsonx.min_new_tokens",
    "llm.watsonx.random_seed", "llm.watsonx.repetition_penalty",
];

#[rustfmt::skip]
const BOOKKEEPING: &[&str] = &[
    "error.type", "gen_ai.action.error", "gen_ai.action.extracted_content_length",
    "gen_ai.action.file_path", "gen_ai.action.has_sensitive_data", "gen_ai.action.index",
    "gen_ai.action.success", "gen_ai.action.type", "gen_ai.agent.action.tool",
    "gen_ai.agent.action_errors", "gen_ai.agent.actions_count", "gen_ai.agent.actions_error_count",
    "gen_ai.agent.actions_success_count", "gen_ai.agent.allow_code_execution",
    "gen_ai.agent.allow_delegation", "gen_ai.agent.allowed_domains", "gen_ai.agent.browse_url",
    "gen_ai.agent.enable_cache", "gen_ai.agent.enable_history", "gen_ai.agent.execution_time",
    "gen_ai.agent.failed_steps", "gen_ai.agent.goal", "gen_ai.agent.headless",
    "gen_ai.agent.interacted_elements_count", "gen_ai.agent.introduction",
    "gen_ai.agent.invocations", "gen_ai.agent.lifecycle.phase", "gen_ai.agent.llm_timeout",
    "gen_ai.agent.max_actions_per_step", "gen_ai.agent.max_failures",
    "gen_ai.agent.max_retry_limit", "gen_ai.agent.max_steps", "gen_ai.agent.memory_enabled",
    "gen_ai.agent.message_type", "gen_ai.agent.operation.duration", "gen_ai.agent.page_title",
    "gen_ai.agent.params", "gen_ai.agent.recipient", "gen_ai.agent.reply_mode",
    "gen_ai.agent.response_time", "gen_ai.agent.retry_delay", "gen_ai.agent.role",
    "gen_ai.agent.schema", "gen_ai.agent.sender", "gen_ai.agent.session_id",
    "gen_ai.agent.show_reasoning", "gen_ai.agent.slug", "gen_ai.agent.source",
    "gen_ai.agent.step_count", "gen_ai.agent.step_duration", "gen_ai.agent.storage",
    "gen_ai.agent.strategy", "gen_ai.agent.stream_intermediate_steps", "gen_ai.agent.success_rate",
    "gen_ai.agent.successful_steps", "gen_ai.agent.tabs_count", "gen_ai.agent.target",
    "gen_ai.agent.task.id", "gen_ai.agent.task_associations", "gen_ai.agent.task_id",
    "gen_ai.agent.tool.errors", "gen_ai.agent.tools", "gen_ai.agent.total_actions",
    "gen_ai.agent.type", "gen_ai.agent.use_vision", "gen_ai.agent.validate_output",
    "gen_ai.agent.vision_detail_level", "gen_ai.browser.action.retry_count",
    "gen_ai.browser.action.selector", "gen_ai.browser.action.success",
    "gen_ai.browser.action.target", "gen_ai.browser.action.type",
    "gen_ai.browser.controller.type", "gen_ai.browser.cpu.usage",
    "gen_ai.browser.dom.changes_count", "gen_ai.browser.dom.elements_count",
    "gen_ai.browser.error.message", "gen_ai.browser.error.type",
    "gen_ai.browser.javascript.errors", "gen_ai.browser.max_steps", "gen_ai.browser.memory.usage",
    "gen_ai.browser.network.failed_requests", "gen_ai.browser.network.requests_count",
    "gen_ai.browser.network.timing", "gen_ai.browser.page.load_time", "gen_ai.browser.page.title",
    "gen_ai.browser.page.url", "gen_ai.browser.page_title", "gen_ai.browser.screenshot.captured",
    "gen_ai.browser.screenshot.taken", "gen_ai.browser.session.actions_count",
    "gen_ai.browser.session.duration", "gen_ai.browser.session.id",
    "gen_ai.browser.session.success_rate", "gen_ai.browser.step.number",
    "gen_ai.browser.tabs_count", "gen_ai.browser.user_agent",
    "gen_ai.browser.video.recording", "gen_ai.browser.viewport.height",
    "gen_ai.browser.viewport.width", "gen_ai.checkpoint.id", "gen_ai.component.class_name",
    "gen_ai.crawl.browser_type", "gen_ai.crawl.cache_mode", "gen_ai.crawl.css_selector",
    "gen_ai.crawl.deep_strategy", "gen_ai.crawl.depth", "gen_ai.crawl.excluded_tags",
    "gen_ai.crawl.extraction_strategy", "gen_ai.crawl.headless", "gen_ai.crawl.js_code",
    "gen_ai.crawl.page_timeout", "gen_ai.crawl.pdf", "gen_ai.crawl.proxy_config",
    "gen_ai.crawl.result.html_length", "gen_ai.crawl.result.images_count",
    "gen_ai.crawl.result.links_count", "gen_ai.crawl.result.markdown_length",
    "gen_ai.crawl.result.redirected_url", "gen_ai.crawl.result.status_code",
    "gen_ai.crawl.result.success", "gen_ai.crawl.scraping_strategy", "gen_ai.crawl.screenshot",
    "gen_ai.crawl.session_id", "gen_ai.crawl.url_count", "gen_ai.crawl.user_agent",
    "gen_ai.crawl.viewport_height", "gen_ai.crawl.viewport_width", "gen_ai.crawl.wait_for",
    "gen_ai.crawl.word_count_threshold", "gen_ai.data_source.type", "gen_ai.data_source_count",
    "gen_ai.endpoint", "gen_ai.execution.error", "gen_ai.execution.id", "gen_ai.execution.mode",
    "gen_ai.execution.status", "gen_ai.extraction.apply_chunking", "gen_ai.extraction.chunk_count",
    "gen_ai.extraction.chunk_token_threshold", "gen_ai.extraction.error",
    "gen_ai.extraction.input_format", "gen_ai.extraction.overlap_rate", "gen_ai.extraction.schema",
    "gen_ai.extraction.strategy.type", "gen_ai.extraction.success", "gen_ai.extraction.type",
    "gen_ai.framework.chunk.count", "gen_ai.framework.chunk.overlap",
    "gen_ai.framework.chunk.size", "gen_ai.framework.component.connections",
    "gen_ai.framework.component.input_spec", "gen_ai.framework.component.input_types",
    "gen_ai.framework.component.name", "gen_ai.framework.component.output_spec",
    "gen_ai.framework.component.output_types", "gen_ai.framework.component.receivers",
    "gen_ai.framework.component.senders", "gen_ai.framework.component.type",
    "gen_ai.framework.component.visits", "gen_ai.framework.context.count",
    "gen_ai.framework.context.size", "gen_ai.framework.document.size",
    "gen_ai.framework.document.sources", "gen_ai.framework.document.type",
    "gen_ai.framework.documents.count", "gen_ai.framework.embedding.batch_size",
    "gen_ai.framework.embedding.count", "gen_ai.framework.embedding.dimension",
    "gen_ai.framework.embedding.model", "gen_ai.framework.embedding.processed",
    "gen_ai.framework.error.class", "gen_ai.framework.error.message",
    "gen_ai.framework.error.type", "gen_ai.framework.index.name", "gen_ai.framework.index.type",
    "gen_ai.framework.node.id", "gen_ai.framework.nodes.added", "gen_ai.framework.nodes.count",
    "gen_ai.framework.nodes.created", "gen_ai.framework.nodes.deleted",
    "gen_ai.framework.nodes.inserted", "gen_ai.framework.nodes.processed",
    "gen_ai.framework.performance.baseline_avg",
    "gen_ai.framework.performance.baseline_percentile", "gen_ai.framework.performance.vs_baseline",
    "gen_ai.framework.pipeline.component_count", "gen_ai.framework.pipeline.execution_time",
    "gen_ai.framework.pipeline.max_runs_per_component", "gen_ai.framework.pipeline.metadata",
    "gen_ai.framework.query.length", "gen_ai.framework.query.type",
    "gen_ai.framework.response.length", "gen_ai.framework.retrieval.count",
    "gen_ai.framework.retrieval.method", "gen_ai.framework.retrieval.source",
    "gen_ai.framework.show_progress", "gen_ai.framework.similarity.threshold",
    "gen_ai.framework.similarity.top_k", "gen_ai.framework.tags", "gen_ai.framework.template.type",
    "gen_ai.framework.text.length", "gen_ai.framework.text.processed",
    "gen_ai.framework.vector.dimension", "gen_ai.graph.edge_count", "gen_ai.graph.edges",
    "gen_ai.graph.executed_nodes", "gen_ai.graph.message_count", "gen_ai.graph.node_count",
    "gen_ai.graph.node_execution_count", "gen_ai.graph.nodes", "gen_ai.graph.status",
    "gen_ai.graph.total_chunks", "gen_ai.groupchat.message_count", "gen_ai.groupchat.participants",
    "gen_ai.groupchat.speaker_selection", "gen_ai.groupchat.turn_count", "gen_ai.hub.owner",
    "gen_ai.hub.repo", "gen_ai.knowledge.add.content_length",
    "gen_ai.knowledge.add.document_count", "gen_ai.knowledge.operation.duration",
    "gen_ai.knowledge.operation.success", "gen_ai.knowledge.search.limit",
    "gen_ai.knowledge.search.results_count", "gen_ai.memory.agent_id", "gen_ai.memory.count",
    "gen_ai.memory.db_type", "gen_ai.memory.infer", "gen_ai.memory.metadata",
    "gen_ai.memory.operation", "gen_ai.memory.operation.duration",
    "gen_ai.memory.operation.result_count", "gen_ai.memory.operation.success",
    "gen_ai.memory.result_id", "gen_ai.memory.results_count", "gen_ai.memory.search.limit",
    "gen_ai.memory.search.results_count", "gen_ai.memory.search.threshold",
    "gen_ai.memory.search.top_scores", "gen_ai.memory.table_name", "gen_ai.memory.type",
    "gen_ai.message.role", "gen_ai.monitor.completion_rate", "gen_ai.monitor.memory_usage",
    "gen_ai.monitor.peak_memory", "gen_ai.monitor.queue_size", "gen_ai.monitor.retry_count",
    "gen_ai.monitor.task_id", "gen_ai.monitor.task_status", "gen_ai.monitor.wait_time",
    "gen_ai.operation.type", "gen_ai.rag.documents_path", "gen_ai.rag.file_ids",
    "gen_ai.rag.max_neighbors", "gen_ai.rag.max_segments", "gen_ai.rag.similarity_threshold",
    "gen_ai.rag.strategy", "gen_ai.reasoning.execution_duration", "gen_ai.reasoning.max_steps",
    "gen_ai.reasoning.min_steps", "gen_ai.reasoning.model", "gen_ai.retrieval.document_count",
    "gen_ai.retrieval.source", "gen_ai.run.id", "gen_ai.serialized.doc",
    "gen_ai.serialized.module", "gen_ai.serialized.name", "gen_ai.serialized.signature",
    "gen_ai.task.agent_id", "gen_ai.task.id", "gen_ai.task.kind", "gen_ai.task.name",
    "gen_ai.task.parent.id", "gen_ai.task.status", "gen_ai.task.tools", "gen_ai.task.type",
    "gen_ai.team.agent_count", "gen_ai.team.agents", "gen_ai.team.execution.duration",
    "gen_ai.team.name", "gen_ai.team.operation.success", "gen_ai.tool.error",
    "gen_ai.tool.execution.duration", "gen_ai.tool.execution.success", "gen_ai.tool.output_type",
    "gen_ai.tool.parameters", "gen_ai.tool.schema", "gen_ai.toolkit.execution.duration",
    "gen_ai.toolkit.function_count", "gen_ai.toolkit.functions", "gen_ai.toolkit.name",
    "gen_ai.vectordb.dimensions", "gen_ai.vectordb.name", "gen_ai.vectordb.operation.duration",
    "gen_ai.vectordb.operation.success", "gen_ai.vectordb.search.limit",
    "gen_ai.vectordb.search.results_count", "gen_ai.vectordb.search.top_scores",
    "gen_ai.vectordb.search.vector_size", "gen_ai.vectordb.upsert.document_count",
    "gen_ai.workflow.agent_count", "gen_ai.workflow.description", "gen_ai.workflow.edges",
    "gen_ai.workflow.execution.duration", "gen_ai.workflow.execution_type",
    "gen_ai.workflow.nodes", "gen_ai.workflow.operation.success", "gen_ai.workflow.task_count",
    "gen_ai.workflow.type", "graph.node.id", "graph.node.name", "graph.node.parent_id",
    "langgraph.command.goto_node", "langgraph.command.goto_nodes", "langgraph.command.source_node",
    "llm.prompt_template.version", "llm.request.functions", "llm.tools",
    "llm.tools.0.tool.description", "llm.tools.0.tool.json_schema", "llm.tools.0.tool.name",
    "prompt.id", "prompt.url", "prompt.vendor", "reranker.top_k", "tool.json_schema",
    "tool.parameters", "traceloop.correlation.id", "traceloop.entity.name",
    "traceloop.entity.path", "traceloop.entity.version", "traceloop.prompt.key",
    "traceloop.prompt.managed", "traceloop.prompt.version", "traceloop.prompt.version_hash",
    "traceloop.prompt.version_name", "traceloop.workflow.name",
];

#[rustfmt::skip]
const EVALUATIONS: &[&str] = &[
    "annotations", "evaluations", "gen_ai.agent.threat.rule_id", "gen_ai.agent.threat.severity",
    "gen_ai.agent.threat.threat_class", "gen_ai.agent.threat_detected",
    "gen_ai.eval.answer_relevancy", "gen_ai.eval.context_relevancy", "gen_ai.eval.groundedness",
    "gen_ai.moderation.categories", "gen_ai.moderation.category_scores",
    "gen_ai.moderation.flagged", "session.annotations", "session.evaluations", "trace.annotations",
    "trace.evaluations",
];

#[rustfmt::skip]
const FIGURES: &[&str] = &[
    "decision.model_name", "decision.provider", "decision.request.model_name",
    "decision.response.model_name", "decision.system", "decision.token_count.input",
    "decision.token_count.output", "gen_ai.performance.tokens_per_second",
    "gen_ai.streaming.chunk_count", "gen_ai.streaming.response_count", "gen_ai.token.chunk_count",
    "gen_ai.token.chunk_usage", "gen_ai.token.cost.input", "gen_ai.token.cost.output",
    "gen_ai.token.cost.total", "gen_ai.token.usage.input", "gen_ai.token.usage.output",
    "gen_ai.token.usage.total", "gen_ai.usage.cost", "gen_ai.usage.token_type",
    "llm.cost.completion", "llm.cost.completion_details", "llm.cost.completion_details.audio",
    "llm.cost.completion_details.output", "llm.cost.completion_details.reasoning",
    "llm.cost.prompt", "llm.cost.prompt_details", "llm.cost.prompt_details.audio",
    "llm.cost.prompt_details.cache_input", "llm.cost.prompt_details.cache_read",
    "llm.cost.prompt_details.cache_write", "llm.cost.prompt_details.input",
    "llm.token_count.prompt_details", "llm.token_count.prompt_details.cache_input",
    "llm.usage.token_type",
];

#[rustfmt::skip]
const NAMES: &[&str] = &[
    "gen_ai.assistant.message", "gen_ai.choice", "gen_ai.client.inference.operation.details",
    "gen_ai.client.operation.duration", "gen_ai.client.operation.time_per_output_chunk",
    "gen_ai.client.operation.time_to_first_chunk", "gen_ai.content.completion.chunk",
    "gen_ai.evaluation.result", "gen_ai.server.request.duration", "gen_ai.system.message",
    "gen_ai.tool.message", "gen_ai.user.message", "haystack.openai.chat",
    "haystack.openai.completion", "llm.content.completion.chunk",
];

#[rustfmt::skip]
const LABELS: &[&str] = &[
    "gen_ai.application_name", "gen_ai.environment", "gen_ai.sdk.version", "metadata",
    "openlit.agent.version_hash", "openlit.score.idempotency_key", "tag.tags",
    "traceloop.association.properties",
];

/// Why `key` is left as it is, if it is one of [`KEPT`].
pub fn kept_because(key: &str) -> Option<&'static str> {
    KEPT.iter()
        .find(|(_, keys)| {
            keys.iter()
                .any(|k| *k == key || (k.ends_with('.') && key.starts_with(k)))
        })
        .map(|(why, _)| *why)
}
