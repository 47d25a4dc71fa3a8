// otelcol-peer: the real OpenTelemetry Collector, with only the components
// llamacol's tests and benchmarks compare against. Built by scripts/peers.sh
// into a per-machine cache; never shipped, never part of the product.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourcedetectionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/nopexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// byType keys factories by their component type, refusing duplicates.
func byType[F interface{ Type() component.Type }](fs ...F) map[component.Type]F {
	m := make(map[component.Type]F, len(fs))
	for _, f := range fs {
		if _, dup := m[f.Type()]; dup {
			log.Fatalf("duplicate factory %s", f.Type())
		}
		m[f.Type()] = f
	}
	return m
}

func factories() (otelcol.Factories, error) {
	return otelcol.Factories{
		Receivers: byType[receiver.Factory](
			otlpreceiver.NewFactory(),
			prometheusreceiver.NewFactory(),
			hostmetricsreceiver.NewFactory(),
			filelogreceiver.NewFactory(),
		),
		Processors: byType[processor.Factory](
			batchprocessor.NewFactory(),
			memorylimiterprocessor.NewFactory(),
			probabilisticsamplerprocessor.NewFactory(),
			tailsamplingprocessor.NewFactory(),
			resourcedetectionprocessor.NewFactory(),
			transformprocessor.NewFactory(),
			filterprocessor.NewFactory(),
			attributesprocessor.NewFactory(),
			resourceprocessor.NewFactory(),
			k8sattributesprocessor.NewFactory(),
		),
		Exporters: byType[exporter.Factory](
			otlpexporter.NewFactory(),
			otlphttpexporter.NewFactory(),
			debugexporter.NewFactory(),
			nopexporter.NewFactory(),
			fileexporter.NewFactory(),
			prometheusexporter.NewFactory(),
		),
		Connectors: byType[connector.Factory](spanmetricsconnector.NewFactory()),
		Extensions: byType[extension.Factory](),
		Telemetry:  otelconftelemetry.NewFactory(),
	}, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-peer",
			Description: "OpenTelemetry Collector built as a test and benchmark peer for llamacol",
			Version:     "0.161.0",
		},
		Factories: factories,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					fileprovider.NewFactory(),
					envprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		log.Fatal(err)
	}
}
