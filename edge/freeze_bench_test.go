package edge_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imgedge/cache/redistest"
)

// BenchmarkRedisFreeze measures two nodes sharing Redis under load (four
// clients; four in five requests hits, one in five a new variant 100-300
// px wide) for 10 s
// healthy, then through a 20 s freeze of Redis (SIGSTOP) and 5 s after it
// resumes. Reported: p99 healthy and through the freeze, and the most any
// request waited beyond its own render (latency minus Server-Timing's
// transform). Run it alone: go test -run X -bench RedisFreeze -benchtime 1x ./edge/
func BenchmarkRedisFreeze(b *testing.B) {
	for b.Loop() {
		rd := redistest.Start(b)
		a := start(b, []string{"IMGEDGE_REDIS_URL=" + rd.URL()}, nil)
		nodes := []*harness{a, start(b, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), "IMGEDGE_ORIGIN=" + a.origin.url}, nil)}
		hot := []string{"/kodim23.png?w=200&fm=webp", "/kodim23.png?w=100&fm=png", "/kodim23.png"}
		for _, n := range nodes {
			for _, u := range hot {
				n.get(b, u)
			}
		}
		type sample struct {
			phase       int
			took, extra time.Duration
		}
		var mu sync.Mutex
		var samples []sample
		var phase atomic.Int32
		var fresh atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					u := hot[i%len(hot)]
					if i%5 == 4 { // a new variant of about the same cost in every phase
						n := fresh.Add(1)
						u = "/kodim23.png?fm=webp&w=" + strconv.FormatInt(100+n%200, 10) + "&q=" + strconv.FormatInt(50+n/200%45, 10)
					}
					t0 := time.Now()
					r := nodes[(c+i)%2].get(b, u)
					took := time.Since(t0)
					if r.status != 200 {
						b.Errorf("%s: %d", u, r.status)
					}
					extra := took - serverTiming(r.header["server-timing"], "transform")
					mu.Lock()
					samples = append(samples, sample{int(phase.Load()), took, extra})
					mu.Unlock()
				}
			})
		}
		time.Sleep(10 * time.Second)
		phase.Store(1)
		rd.Pause()
		time.Sleep(20 * time.Second)
		rd.Resume()
		time.Sleep(5 * time.Second)
		close(stop)
		wg.Wait()
		p99 := func(ph int) time.Duration {
			var d []time.Duration
			for _, s := range samples {
				if s.phase == ph {
					d = append(d, s.took)
				}
			}
			slices.Sort(d)
			return d[len(d)*99/100]
		}
		var worst time.Duration
		for _, s := range samples {
			worst = max(worst, s.extra)
		}
		b.ReportMetric(float64(p99(0).Microseconds())/1000, "p99-healthy-ms")
		b.ReportMetric(float64(p99(1).Microseconds())/1000, "p99-freeze-ms")
		b.ReportMetric(float64(worst.Microseconds())/1000, "max-wait-beyond-render-ms")
		b.ReportMetric(float64(len(samples)), "requests")
	}
}

// serverTiming is the dur of metric name in a Server-Timing header (0 when
// absent).
func serverTiming(header, name string) time.Duration {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if rest, ok := strings.CutPrefix(part, name+";dur="); ok {
			var ms float64
			if _, err := fmt.Sscan(rest, &ms); err == nil {
				return time.Duration(ms * float64(time.Millisecond))
			}
		}
	}
	return 0
}
