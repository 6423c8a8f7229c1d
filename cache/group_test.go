package cache

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newMemory(t *testing.T) *Memory {
	t.Helper()
	m, err := NewMemory(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func entry(body string) *Entry {
	return &Entry{Body: []byte(body), FreshUntil: time.Now().Add(time.Hour)}
}

func newGroup(t *testing.T, m Store) *Group[string] {
	t.Helper()
	g, err := NewGroup[string](m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func stored(body string) Fill[string] { return Fill[string]{Entry: entry(body), Store: true} }

// TestGroupCollapsesConcurrentFills: however the callers interleave, the
// loader runs once. A caller that overlaps the flight joins it; one that
// arrives after it ended finds the stored entry in its own flight's
// re-check (Hit).
func TestGroupCollapsesConcurrentFills(t *testing.T) {
	t.Parallel()
	g := newGroup(t, newMemory(t))
	var calls atomic.Int32
	const n = 50
	outcomes := make(chan Outcome, n)
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			f, o, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
				calls.Add(1)
				return stored("v"), nil
			})
			if err != nil || string(f.Entry.Body) != "v" {
				t.Errorf("Do: %v %v", f.Entry, err)
			}
			outcomes <- o
		}()
	}
	done.Wait()
	close(outcomes)
	count := map[Outcome]int{}
	for o := range outcomes {
		count[o]++
	}
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", calls.Load())
	}
	if count[Stored] != 1 || count[Collapsed]+count[Hit] != n-1 {
		t.Fatalf("outcomes %v, want 1 stored and %d collapsed or hit", count, n-1)
	}
}

// TestGroupFinishedFillIsVisible: a caller arriving right after a fill ended
// must not fill again. ristretto applies Sets on its own goroutine; before
// the memory tier waited for them, about 1,950 of 2,000 back-to-back pairs
// ran the loader twice.
func TestGroupFinishedFillIsVisible(t *testing.T) {
	t.Parallel()
	g := newGroup(t, newMemory(t))
	var calls atomic.Int32
	load := func(context.Context) (Fill[string], error) {
		calls.Add(1)
		return stored("v"), nil
	}
	const keys = 2000
	for i := range keys {
		key := "k" + strconv.Itoa(i)
		if _, o, err := g.Do(context.Background(), key, time.Minute, load); err != nil || o != Stored {
			t.Fatalf("first Do of %s: %v %v", key, o, err)
		}
		if _, o, err := g.Do(context.Background(), key, time.Minute, load); err != nil || o != Hit {
			t.Fatalf("second Do of %s: %v %v, want a hit", key, o, err)
		}
	}
	if calls.Load() != keys {
		t.Fatalf("loader ran %d times for %d keys", calls.Load(), keys)
	}
}

func TestGroupRechecksStoreInsideFlight(t *testing.T) {
	t.Parallel()
	m := newMemory(t)
	g := newGroup(t, m)
	if _, o, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
		return stored("first"), nil
	}); err != nil || o != Stored {
		t.Fatalf("first fill: %v %v", o, err)
	}
	f, o, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
		t.Error("a second fill ran although the store holds the key fresh")
		return Fill[string]{}, errors.New("unreachable")
	})
	if err != nil || o != Hit || string(f.Entry.Body) != "first" {
		t.Fatalf("second Do: %v %v %v", f.Entry, o, err)
	}
}

func TestGroupRefillsStaleEntry(t *testing.T) {
	t.Parallel()
	m := newMemory(t)
	g := newGroup(t, m)
	stale := &Entry{Body: []byte("old"), FreshUntil: time.Now().Add(-time.Second)}
	m.Set("k", stale, time.Hour)
	f, o, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
		return stored("new"), nil
	})
	if err != nil || o != Stored || string(f.Entry.Body) != "new" {
		t.Fatalf("Do over a stale entry: %s %v %v", f.Entry.Body, o, err)
	}
}

// TestGroupFillSurvivesLeaderCancel: the caller that started a fill gives up;
// the fill goes on under its own context and stores its result.
func TestGroupFillSurvivesLeaderCancel(t *testing.T) {
	t.Parallel()
	m := newMemory(t)
	g := newGroup(t, m)
	started := make(chan struct{})
	release := make(chan struct{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	var fillCtxAlive atomic.Bool
	go func() {
		_, _, err := g.Do(leaderCtx, "k", time.Minute, func(ctx context.Context) (Fill[string], error) {
			close(started)
			<-release
			fillCtxAlive.Store(ctx.Err() == nil)
			return stored("v"), nil
		})
		leaderErr <- err
	}()
	<-started
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader got %v, want context.Canceled", err)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !fillCtxAlive.Load() {
		t.Fatal("the fill's context was cancelled with the leader's")
	}
	if e, ok := m.Get("k"); !ok || string(e.Body) != "v" {
		t.Fatal("the fill did not store its result after its leader left")
	}
}

// TestGroupWaitBoundsShutdown: Wait returns once running fills end, and
// gives up with ctx's error while one still runs.
func TestGroupWaitBoundsShutdown(t *testing.T) {
	t.Parallel()
	g := newGroup(t, newMemory(t))
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait with nothing running: %v", err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
			close(started)
			<-release
			return stored("v"), nil
		})
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait under a running fill = %v, want the context's error", err)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait after the fill: %v", err)
	}
	<-done
}

func TestGroupPanicBecomesError(t *testing.T) {
	t.Parallel()
	g := newGroup(t, newMemory(t))
	_, _, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) {
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
}

func TestGroupStoresOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		fill Fill[string]
		want Outcome
	}{
		{"Store false", Fill[string]{Entry: entry("render from a stale source")}, NotStored},
		{"NoStore entry", Fill[string]{Entry: &Entry{Body: []byte("private"), NoStore: true, FreshUntil: time.Now().Add(time.Hour)}, Store: true}, NotStored},
		{"nothing left to keep", Fill[string]{Entry: &Entry{Body: []byte("expired"), FreshUntil: time.Now().Add(-time.Second)}, Store: true}, NotStored},
		{"fresh", stored("v"), Stored},
	} {
		m := newMemory(t)
		g := newGroup(t, m)
		_, o, err := g.Do(context.Background(), "k", time.Minute, func(context.Context) (Fill[string], error) { return tt.fill, nil })
		if err != nil || o != tt.want {
			t.Errorf("%s: outcome %v, %v; want %v", tt.name, o, err, tt.want)
		}
		if _, ok := m.Get("k"); ok != (tt.want == Stored) {
			t.Errorf("%s: held by the tier = %v", tt.name, ok)
		}
	}
}

func TestGroupTimeoutBoundsFill(t *testing.T) {
	t.Parallel()
	g := newGroup(t, newMemory(t))
	_, _, err := g.Do(context.Background(), "k", 30*time.Millisecond, func(ctx context.Context) (Fill[string], error) {
		<-ctx.Done()
		return Fill[string]{}, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the fill's deadline", err)
	}
}

func TestMemoryBudgetIsBytes(t *testing.T) {
	t.Parallel()
	m, err := NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	body := make([]byte, 100<<10)
	for i := range 30 {
		m.Set(string(rune('a'+i)), &Entry{Body: body, FreshUntil: time.Now().Add(time.Hour)}, time.Hour)
	}
	held := 0
	for i := range 30 {
		if _, ok := m.Get(string(rune('a' + i))); ok {
			held++
		}
	}
	if held == 0 || held > 10 {
		t.Fatalf("%d entries of 100 KiB held in a 1 MiB budget", held)
	}
}

func TestOffKeepsNothing(t *testing.T) {
	t.Parallel()
	var s Store = Off{}
	if s.Set("k", entry("v"), time.Hour) {
		t.Fatal("Off accepted a Set")
	}
	if _, ok := s.Get("k"); ok {
		t.Fatal("Off returned an entry")
	}
}

func TestEntryTTL(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tt := range []struct {
		d    time.Duration
		want int64
	}{{90 * time.Second, 90}, {1500 * time.Millisecond, 1}, {-40 * time.Second, -40}, {-500 * time.Millisecond, -1}} {
		e := &Entry{FreshUntil: now.Add(tt.d)}
		if got := e.TTL(now); got != tt.want {
			t.Errorf("TTL with %v left = %d, want %d", tt.d, got, tt.want)
		}
	}
}
