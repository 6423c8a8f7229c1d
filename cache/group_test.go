package cache

import (
	"context"
	"errors"
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

func TestGroupCollapsesConcurrentFills(t *testing.T) {
	m := newMemory(t)
	g, err := NewGroup(m, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	release := make(chan struct{})
	const n = 50
	outcomes := make(chan Outcome, n)
	var calling, done sync.WaitGroup
	for range n {
		calling.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			calling.Done()
			f, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
				calls.Add(1)
				<-release
				return Fill{Entry: entry("v"), Keep: time.Hour}, nil
			})
			if err != nil || string(f.Entry.Body) != "v" {
				t.Errorf("Do: %v %v", f.Entry, err)
			}
			outcomes <- o
		}()
	}
	calling.Wait()
	time.Sleep(20 * time.Millisecond) // let the callers reach the flight
	close(release)
	done.Wait()
	close(outcomes)
	count := map[Outcome]int{}
	for o := range outcomes {
		count[o]++
	}
	// A caller that arrives after the flight ended finds the stored entry
	// inside its own flight (Hit): the loader still runs once.
	if calls.Load() != 1 {
		t.Fatalf("loader ran %d times, want 1", calls.Load())
	}
	if count[Stored] != 1 || count[Collapsed]+count[Hit] != n-1 || count[Collapsed] == 0 {
		t.Fatalf("outcomes %v, want 1 stored and %d collapsed or hit", count, n-1)
	}
}

func TestGroupRechecksStoreInsideFlight(t *testing.T) {
	m := newMemory(t)
	g, _ := NewGroup(m, time.Minute, nil)
	if _, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
		return Fill{Entry: entry("first"), Keep: time.Hour}, nil
	}); err != nil || o != Stored {
		t.Fatalf("first fill: %v %v", o, err)
	}
	m.Wait()
	f, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
		t.Error("a second fill ran although the store holds the key fresh")
		return Fill{}, errors.New("unreachable")
	})
	if err != nil || o != Hit || string(f.Entry.Body) != "first" {
		t.Fatalf("second Do: %v %v %v", f.Entry, o, err)
	}
}

func TestGroupRefillsStaleEntry(t *testing.T) {
	m := newMemory(t)
	g, _ := NewGroup(m, time.Minute, nil)
	stale := &Entry{Body: []byte("old"), FreshUntil: time.Now().Add(-time.Second)}
	m.Set("k", stale, time.Hour)
	m.Wait()
	f, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
		return Fill{Entry: entry("new"), Keep: time.Hour}, nil
	})
	if err != nil || o != Stored || string(f.Entry.Body) != "new" {
		t.Fatalf("Do over a stale entry: %s %v %v", f.Entry.Body, o, err)
	}
}

func TestGroupFillSurvivesLeaderCancel(t *testing.T) {
	m := newMemory(t)
	g, _ := NewGroup(m, time.Minute, nil)
	started := make(chan struct{})
	release := make(chan struct{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	var fillCtxErr atomic.Value
	go func() {
		_, _, err := g.Do(leaderCtx, "k", func(ctx context.Context) (Fill, error) {
			close(started)
			<-release
			fillCtxErr.Store(ctx.Err() == nil)
			return Fill{Entry: entry("v"), Keep: time.Hour}, nil
		})
		leaderErr <- err
	}()
	<-started
	joined := make(chan Fill, 1)
	go func() {
		f, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
			return Fill{}, errors.New("joiner must not fill")
		})
		if err != nil || o != Collapsed {
			t.Errorf("joiner: %v %v", o, err)
		}
		joined <- f
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled leader got %v, want context.Canceled", err)
	}
	close(release)
	if f := <-joined; f.Entry == nil || string(f.Entry.Body) != "v" {
		t.Fatalf("joiner got %+v", f)
	}
	if ok, _ := fillCtxErr.Load().(bool); !ok {
		t.Fatal("the fill's context was cancelled with the leader's")
	}
}

func TestGroupPanicBecomesError(t *testing.T) {
	g, _ := NewGroup(newMemory(t), time.Minute, nil)
	_, _, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
}

func TestGroupKeepZeroIsNotStored(t *testing.T) {
	m := newMemory(t)
	g, _ := NewGroup(m, time.Minute, nil)
	_, o, err := g.Do(context.Background(), "k", func(context.Context) (Fill, error) {
		return Fill{Entry: entry("private")}, nil
	})
	m.Wait()
	if err != nil || o != NotStored {
		t.Fatalf("outcome %v, %v; want NotStored", o, err)
	}
	if _, ok := m.Get("k"); ok {
		t.Fatal("a Keep of 0 was stored")
	}
}

func TestGroupTimeoutBoundsFill(t *testing.T) {
	g, _ := NewGroup(newMemory(t), 30*time.Millisecond, nil)
	_, _, err := g.Do(context.Background(), "k", func(ctx context.Context) (Fill, error) {
		<-ctx.Done()
		return Fill{}, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the fill's deadline", err)
	}
}

func TestMemoryBudgetIsBytes(t *testing.T) {
	m, err := NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	body := make([]byte, 100<<10)
	for i := range 30 {
		m.Set(string(rune('a'+i)), &Entry{Body: body, FreshUntil: time.Now().Add(time.Hour)}, time.Hour)
		m.Wait()
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
	var s Store = Off{}
	if s.Set("k", entry("v"), time.Hour) {
		t.Fatal("Off accepted a Set")
	}
	if _, ok := s.Get("k"); ok {
		t.Fatal("Off returned an entry")
	}
}

func TestEntryTTL(t *testing.T) {
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
