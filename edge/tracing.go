package edge

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"imgedge/cache"
	"imgedge/configs"
)

// tracing records one span per request, with children for the cache lookup,
// the origin fetch and the transform stages, and exports them over OTLP/HTTP.
// A nil *tracing is tracing off: the request path then does no tracing work.
type tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

func newTracing(cfg configs.Tracing) (*tracing, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	endpoint := cfg.Endpoint
	if u, err := url.Parse(endpoint); err == nil && (u.Path == "" || u.Path == "/") {
		endpoint = u.Scheme + "://" + u.Host + "/v1/traces"
	}
	exporter, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint %s: %w", cfg.Endpoint, err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Sample))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "imgedge"))),
	)
	return &tracing{provider: provider, tracer: provider.Tracer("imgedge/edge")}, nil
}

// close flushes the spans still buffered.
func (t *tracing) close() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.provider.Shutdown(ctx)
}

// headerCarrier reads a request's headers for W3C trace-context extraction.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(string, string)    {}
func (c headerCarrier) Keys() []string        { return []string{"traceparent", "tracestate"} }

// record turns one finished request into spans, continuing the caller's
// trace when it sent one. It returns the trace id for the access log.
func (t *tracing) record(ctx *fasthttp.RequestCtx, sc *scratch, label int, start, end time.Time, status int) string {
	parent := propagation.TraceContext{}.Extract(context.Background(), headerCarrier{&ctx.Request.Header})
	rctx, span := t.tracer.Start(parent, string(ctx.Method())+" "+string(ctx.Path()),
		trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", string(ctx.Method())),
			attribute.String("url.path", string(ctx.Path())),
			attribute.String("url.query", string(ctx.URI().QueryString())),
			attribute.Int("http.response.status_code", status),
			attribute.String("imgedge.cache", labelNames[label]),
			attribute.String("imgedge.outcome", sc.answer.Outcome.String()),
			attribute.String("imgedge.request_id", string(sc.id)),
		))
	defer span.End(trace.WithTimestamp(end))
	child := func(ctx context.Context, name string, from, to time.Time, attrs ...attribute.KeyValue) context.Context {
		c, s := t.tracer.Start(ctx, name, trace.WithTimestamp(from), trace.WithAttributes(attrs...))
		s.End(trace.WithTimestamp(to))
		return c
	}
	a := &sc.answer
	if !a.Timings.LookupStart.IsZero() {
		// The lookup span is named for the tier that answered it: a memory
		// miss the shared tier answered is "cache.redis".
		name := "cache.memory"
		if a.Tier == cache.TierRedis {
			name = "cache.redis"
		}
		child(rctx, name, a.Timings.LookupStart, a.Timings.LookupEnd, attribute.String("imgedge.state", a.Lookup.String()),
			attribute.String("imgedge.tier", a.Tier.String()))
	}
	tm := a.Timings
	shared := attribute.Bool("imgedge.collapsed", a.Collapsed)
	if tm.Origin > 0 && !tm.OriginAt.IsZero() {
		child(rctx, "origin.fetch", tm.OriginAt, tm.OriginAt.Add(tm.Origin), shared)
	}
	if tm.Transform > 0 && !tm.TransformAt.IsZero() {
		tend := tm.TransformAt.Add(tm.Transform)
		tctx := child(rctx, "transform", tm.TransformAt, tend, shared)
		// The stages end where the transform ends; what comes before them
		// is the wait for a transform slot.
		st := tm.Stages
		at := tend.Add(-(st.Decode + st.Resize + st.Encode))
		for _, stage := range []struct {
			name string
			d    time.Duration
		}{{"transform.decode", st.Decode}, {"transform.resize", st.Resize}, {"transform.encode", st.Encode}} {
			child(tctx, stage.name, at, at.Add(stage.d))
			at = at.Add(stage.d)
		}
	}
	return span.SpanContext().TraceID().String()
}
