"""The Grafana dashboards of llamacol, built with grafana-foundation-sdk (Grafana's own
typed builders) rather than edited as JSON.

Usage: generate.py [OUT_DIR ...]
Writes llm-serving.json, gpu-node.json and collector.json into each OUT_DIR (default:
deploy/grafana/dashboards and the Helm chart's dashboards/). The committed JSON must be
what this script writes (tests/e2e_deploy.rs checks), and every query in it must return
data from a llamacol node (same test, against a real Prometheus).

Every metric name here is what llamacol's Prometheus exporter writes (GenAI metrics from
the genai_metrics connector, llamacpp_* from the llamacpp receiver, hw_*/nvml_* or
DCGM_FI_* from the nvml receiver), or its admin server's self-metrics (llamacol_*,
process_*).
"""
import json
import os
import sys

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableOption, VariableRefresh

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


def query(expr, legend="", ref="A"):
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend or "__auto")
        .ref_id(ref)
        .datasource(DS)
    )


def ts(title, unit, targets, description="", width=12):
    panel = timeseries.Panel().title(title).unit(unit).datasource(DS).span(width).height(8)
    if description:
        panel = panel.description(description)
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def base(uid, title, description, tags):
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["llamacol"] + tags)
        .editable()
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_variable(
            dashboard.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
        )
    )


def llm_serving():
    model = 'gen_ai_request_model=~"$model"'
    quantiles = lambda metric: [
        (f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{model}}}[{RATE}])))", f"p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]
    return (
        base(
            "llamacol-llm-serving",
            "LLM serving",
            "Requests, errors, latency, tokens and cost of the LLM calls your apps make (GenAI semantic conventions, from llamacol's genai_metrics connector), the llama.cpp server's slots, and the alerts llamacol's slo processor fires.",
            ["llm", "genai", "llama.cpp"],
        )
        .with_variable(
            dashboard.QueryVariable("model")
            .label("Model")
            .datasource(DS)
            .query("label_values(gen_ai_requests_total, gen_ai_request_model)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        .with_row(dashboard.Row("Requests"))
        .with_panel(ts("Request rate", "reqps", [
            (f"sum by (gen_ai_request_model) (rate(gen_ai_requests_total{{{model}}}[{RATE}]))", "{{gen_ai_request_model}}"),
        ]))
        .with_panel(ts("Error rate", "percentunit", [
            (f'sum by (gen_ai_request_model) (rate(gen_ai_requests_total{{{model}, error_type!=""}}[{RATE}])) / sum by (gen_ai_request_model) (rate(gen_ai_requests_total{{{model}}}[{RATE}]))', "{{gen_ai_request_model}}"),
        ], "Share of requests that failed (error.type set), per model."))
        .with_row(dashboard.Row("Latency"))
        .with_panel(ts("Time to first chunk (streaming)", "s", quantiles("gen_ai_client_operation_time_to_first_chunk_seconds")))
        .with_panel(ts("End-to-end latency", "s", quantiles("gen_ai_client_operation_duration_seconds")))
        .with_panel(ts("Time per output chunk (streaming)", "s", quantiles("gen_ai_client_operation_time_per_output_chunk_seconds")))
        .with_row(dashboard.Row("Tokens and cost"))
        .with_panel(ts("Tokens per second", "short", [
            (f"sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{{{model}}}[{RATE}]))", "{{gen_ai_token_type}}"),
        ], "Input (prompt) and output (completion) tokens per second."))
        .with_panel(ts("Tokens per request", "short", [
            (f"sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{{{model}}}[{RATE}])) / sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_count{{{model}}}[{RATE}]))", "{{gen_ai_token_type}}"),
        ]))
        .with_panel(ts("Cost per hour", "currencyUSD", [
            (f"sum by (gen_ai_request_model) (rate(gen_ai_usage_cost_USD_total{{{model}}}[{RATE}])) * 3600", "{{gen_ai_request_model}}"),
        ], "From the genai processor's pricing; models without a price are not shown."))
        .with_row(dashboard.Row("llama.cpp server"))
        .with_panel(ts("Slots busy / total", "short", [
            ("sum by (job, instance) (llamacpp_slots_busy)", "busy {{instance}}"),
            ("sum by (job, instance) (llamacpp_slots_total)", "total {{instance}}"),
        ]))
        .with_panel(ts("Requests processing and deferred", "short", [
            ("sum by (job, instance) (llamacpp_requests_processing)", "processing {{instance}}"),
            ("sum by (job, instance) (llamacpp_requests_deferred)", "deferred {{instance}}"),
        ], "Deferred: requests waiting for a free slot."))
        .with_panel(ts("Server tokens per second", "short", [
            (f"sum by (job, instance) (rate(llamacpp_tokens_predicted_total[{RATE}]))", "generated {{instance}}"),
            (f"sum by (job, instance) (rate(llamacpp_prompt_tokens_total[{RATE}]))", "prompt {{instance}}"),
        ]))
        .with_row(dashboard.Row("Alerts"))
        .with_panel(
            table.Panel()
            .title("Firing alerts")
            .description("Alerts from llamacol's slo processor (its ALERTS series, as Prometheus writes them).")
            .datasource(DS)
            .span(24)
            .height(8)
            .with_target(query('sum by (alertname, severity) (ALERTS{alertstate="firing"})', "{{alertname}}").instant())
        )
    )


# GPU panels have one query per naming mode of the nvml receiver; `naming` picks one:
# `vector($naming) == 1` keeps the semconv query, `== 2` the dcgm-exporter one.
SEMCONV = " and on() (vector($naming) == 1)"
DCGM = " and on() (vector($naming) == 2)"


def gpu(title, unit, semconv, dcgm, description=""):
    targets = [(expr + SEMCONV, legend) for expr, legend in semconv]
    targets += [(expr + DCGM, legend) for expr, legend in dcgm]
    return ts(title, unit, targets, description)


def gpu_node():
    return (
        base(
            "llamacol-gpu-node",
            "GPU node",
            "Every GPU of the node from llamacol's nvml receiver, in either naming: OpenTelemetry semantic conventions (hw.gpu.*, default) or dcgm-exporter's DCGM_FI_* (naming: dcgm).",
            ["gpu", "nvml"],
        )
        .with_variable(
            dashboard.CustomVariable("naming")
            .label("Metric names")
            .description("The nvml receiver's `naming`: semconv (hw.gpu.*) or dcgm (DCGM_FI_*)")
            .values("semconv : 1, dcgm : 2")
            .current(VariableOption(selected=True, text="semconv", value="1"))
        )
        .with_row(dashboard.Row("Load"))
        .with_panel(gpu("Utilization", "percent",
            [('hw_gpu_utilization_ratio{hw_gpu_task="general"} * 100', "{{hw_name}}")],
            [("DCGM_FI_DEV_GPU_UTIL", "{{modelName}} {{gpu}}")]))
        .with_panel(gpu("Memory used / total", "bytes",
            [("hw_gpu_memory_usage_bytes", "used {{hw_name}}"), ("hw_gpu_memory_limit_bytes", "total {{hw_name}}")],
            [("DCGM_FI_DEV_FB_USED * 1048576", "used {{modelName}} {{gpu}}"),
             ("(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 1048576", "total {{modelName}} {{gpu}}")]))
        .with_panel(ts("Memory per process", "bytes", [
            ("sum by (hw_name, process_pid, process_executable_name) (nvml_process_memory_usage_bytes)", "{{process_executable_name}} ({{process_pid}}) on {{hw_name}}"),
        ], "GPU memory of each process (semconv naming: dcgm-exporter has no per-process metric)."))
        .with_row(dashboard.Row("Power and heat"))
        .with_panel(gpu("Temperature", "celsius",
            [("hw_temperature_celsius", "{{hw_name}}")],
            [("DCGM_FI_DEV_GPU_TEMP", "{{modelName}} {{gpu}}")]))
        .with_panel(gpu("Power", "watt",
            [("hw_power_watts", "{{hw_name}}")],
            [("DCGM_FI_DEV_POWER_USAGE", "{{modelName}} {{gpu}}")]))
        .with_panel(gpu("Energy since the driver loaded", "kwatth",
            [("hw_energy_joules_total / 3.6e6", "{{hw_name}}")],
            [("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION / 3.6e9", "{{modelName}} {{gpu}}")],
            "Only GPUs that report energy (Volta and later)."))
        .with_row(dashboard.Row("Clocks and throttling"))
        .with_panel(gpu("Clocks", "hertz",
            [("nvml_clock_frequency_hertz", "{{nvml_clock_domain}} {{hw_name}}")],
            [("DCGM_FI_DEV_SM_CLOCK * 1e6", "sm {{modelName}} {{gpu}}"), ("DCGM_FI_DEV_MEM_CLOCK * 1e6", "memory {{modelName}} {{gpu}}")]))
        .with_panel(gpu("Throttle reasons", "short",
            [("nvml_throttle_reason", "{{nvml_throttle_reason}} {{hw_name}}")],
            [("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "bitmask {{modelName}} {{gpu}}")],
            "semconv: 1 while a reason is active; dcgm: NVML's clocks-throttle-reasons bitmask."))
        .with_row(dashboard.Row("Errors"))
        .with_panel(gpu("ECC errors", "short",
            [("hw_errors_total", "{{error_type}} {{hw_name}}")],
            [("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "single-bit {{modelName}} {{gpu}}"), ("DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "double-bit {{modelName}} {{gpu}}")],
            "Corrected (single-bit) and uncorrected (double-bit) ECC errors since the counters were reset."))
        .with_panel(gpu("PCIe replays", "short",
            [("nvml_pcie_replay_count_total", "{{hw_name}}")],
            [("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "{{modelName}} {{gpu}}")]))
    )


def collector():
    by = "sum by (component, signal)"
    return (
        base(
            "llamacol-collector",
            "Collector",
            "llamacol itself: what each component accepted, refused, sent, failed or dropped, its exporter queues, sampling, memory and CPU (the admin server's /metrics).",
            ["collector"],
        )
        .with_row(dashboard.Row("Data flow"))
        .with_panel(ts("Receivers: accepted / refused", "short", [
            (f"{by} (rate(llamacol_receiver_accepted_items_total[{RATE}]))", "accepted {{component}} {{signal}}"),
            (f"{by} (rate(llamacol_receiver_refused_items_total[{RATE}]))", "refused {{component}} {{signal}}"),
        ], "Items per second."))
        .with_panel(ts("Exporters: sent / failed / dropped", "short", [
            (f"{by} (rate(llamacol_exporter_sent_items_total[{RATE}]))", "sent {{component}} {{signal}}"),
            (f"{by} (rate(llamacol_exporter_failed_items_total[{RATE}]))", "failed {{component}} {{signal}}"),
            (f"{by} (rate(llamacol_exporter_dropped_items_total[{RATE}]))", "dropped {{component}} {{signal}}"),
        ], "Failed: given up on after retries or refused permanently. Dropped: discarded unsent (queue at shutdown, untranslatable points)."))
        .with_panel(ts("Processors: accepted / refused", "short", [
            (f"{by} (rate(llamacol_processor_accepted_items_total[{RATE}]))", "accepted {{component}} {{signal}}"),
            (f"{by} (rate(llamacol_processor_refused_items_total[{RATE}]))", "refused {{component}} {{signal}}"),
        ]))
        .with_panel(ts("Sampling decisions", "short", [
            (f"{by} (rate(llamacol_processor_accepted_items_total[{RATE}])) - {by} (rate(llamacol_processor_sampled_out_items_total[{RATE}]))", "kept {{component}}"),
            (f"{by} (rate(llamacol_processor_sampled_out_items_total[{RATE}]))", "sampled out {{component}}"),
        ], "Items each processor passed on and (samplers) decided not to pass on."))
        .with_row(dashboard.Row("Queues and resources"))
        .with_panel(ts("Exporter queue fill", "percentunit", [
            ("max by (component) (llamacol_exporter_queue_size / llamacol_exporter_queue_capacity)", "batches {{component}}"),
            ("max by (component) (llamacol_exporter_queue_size_bytes / llamacol_exporter_queue_capacity_bytes)", "bytes {{component}}"),
        ], "A queue near 100% means its backend is slower than the data coming in."))
        .with_panel(ts("Memory", "bytes", [
            ("process_resident_memory_bytes", "resident {{instance}}"),
        ]))
        .with_panel(ts("CPU", "percentunit", [
            (f"rate(process_cpu_seconds_total[{RATE}])", "{{instance}}"),
        ], "CPU seconds per second (1 = one core)."))
    )


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outs = sys.argv[1:] or [
        os.path.join(here, "dashboards"),
        os.path.join(here, "..", "helm", "llamacol", "dashboards"),
    ]
    boards = {"llm-serving": llm_serving(), "gpu-node": gpu_node(), "collector": collector()}
    for out in outs:
        os.makedirs(out, exist_ok=True)
        for name, board in boards.items():
            with open(os.path.join(out, f"{name}.json"), "w") as f:
                f.write(json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True))
                f.write("\n")


if __name__ == "__main__":
    main()
