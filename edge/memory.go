package edge

import (
	"bytes"
	"os"
	runtimemetrics "runtime/metrics"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"imgedge/cache"
)

// Memory parts of imgedge_memory_bytes. They add up to the resident set:
// an operator sizing a pod reads which budget holds the memory, and what is
// left that no budget bounds.
const (
	partCache   = "cache"        // both memory tiers; cache.memory and cache.memory_originals bound them
	partGoOther = "go_other"     // the rest of Go's memory: request and fetch buffers, stacks, garbage not yet collected
	partLibvips = "libvips"      // pixel buffers libvips tracks; transform.memory_budget bounds the renders that hold them
	partNative  = "native_other" // the rest of the C heap (codecs' own buffers, the allocator's free lists), code and libraries
)

// goRetained is what Go holds from the system and has not given back: all
// of its memory classes but the heap pages it released.
var goRetained = []runtimemetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}

// registerMemory declares imgedge_memory_bytes{part}, read at each scrape.
func registerMemory(r *prometheus.Registry, s *Server, tr any) {
	desc := prometheus.NewDesc("imgedge_memory_bytes",
		"Resident memory by what holds it: cache (the memory tiers), go_other (the rest of Go's heap and stacks), "+
			"libvips (its tracked pixel buffers), native_other (the rest: codecs, the C allocator's free lists, code). "+
			"The parts add up to the resident set.", []string{"part"}, nil)
	mr, _ := tr.(memoryReporter)
	stores := []cache.Store{s.variants, s.originals}
	r.MustRegister(collectorFunc{descs: []*prometheus.Desc{desc}, collect: func(ch chan<- prometheus.Metric) {
		var cached int64
		for _, st := range stores {
			if bc, ok := st.(byteCounter); ok {
				cached += bc.Bytes()
			}
		}
		samples := make([]runtimemetrics.Sample, len(goRetained))
		copy(samples, goRetained)
		runtimemetrics.Read(samples)
		goHeld := int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
		var vips int64
		if mr != nil {
			vips, _, _ = mr.MemoryStats()
		}
		parts := [...]struct {
			name  string
			bytes int64
		}{{partCache, cached}, {partGoOther, goHeld - cached}, {partLibvips, vips}, {partNative, residentBytes() - goHeld - vips}}
		for _, p := range parts {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(max(p.bytes, 0)), p.name)
		}
	}})
}

// residentBytes is the process's resident set from /proc/self/statm (its
// second field, in pages); 0 where there is no /proc.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
