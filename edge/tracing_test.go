package edge_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a minimal OTLP/HTTP trace receiver: it decodes the real
// export requests the edge sends.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var export coltrace.ExportTraceServiceRequest
	if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestTracingExportsRequestSpans(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	h := start(t, []string{"IMGEDGE_TRACING_ENDPOINT=" + collector.URL, "IMGEDGE_TRACING_SAMPLE=1", "IMGEDGE_LOG_HIT_SAMPLE=1"}, nil)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	h.get(t, "/kodim23.png?w=120&fm=webp", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01", "X-Request-Id", "traced-1")
	h.srv.FlushTraces()

	recv.mu.Lock()
	defer recv.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range recv.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			byName[s.Name] = s
		}
	}
	root := byName["GET /kodim23.png"]
	if root == nil {
		t.Fatalf("no request span in the caller's trace; spans: %v", recv.spans)
	}
	if hex.EncodeToString(root.ParentSpanId) != "00f067aa0ba902b7" {
		t.Errorf("the request span does not continue the caller's span")
	}
	for name, parent := range map[string]string{
		"cache.memory": "GET /kodim23.png", "origin.fetch": "GET /kodim23.png", "transform": "GET /kodim23.png",
		"transform.decode": "transform", "transform.resize": "transform", "transform.encode": "transform",
	} {
		s := byName[name]
		if s == nil {
			t.Errorf("no %s span", name)
			continue
		}
		if string(s.ParentSpanId) != string(byName[parent].SpanId) {
			t.Errorf("%s is not a child of %s", name, parent)
		}
		if s.EndTimeUnixNano < s.StartTimeUnixNano || s.StartTimeUnixNano < root.StartTimeUnixNano {
			t.Errorf("%s runs from %d to %d, outside its request", name, s.StartTimeUnixNano, s.EndTimeUnixNano)
		}
	}
	found := false
	for _, l := range logLines(t, h) {
		if l["request_id"] == "traced-1" {
			found = l["trace_id"] == traceID
		}
	}
	if !found {
		t.Errorf("the access log line does not carry the trace id")
	}
}
