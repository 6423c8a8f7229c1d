package fleet

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"imgedge/cache"
)

func sampleEntry() *cache.Entry {
	now := time.Unix(1_700_000_000, 123)
	return &cache.Entry{Body: []byte("RIFF....WEBPVP8 "), ContentType: "image/webp", ETag: `"abc"`, LastModified: "Tue, 03 Jun 2025 10:00:00 GMT",
		LastModifiedAt: time.Unix(1_748_944_800, 0), NoStore: true, OriginCacheControl: "private", StoredAt: now,
		FreshUntil: now.Add(time.Hour), StaleWhileRevalidateUntil: now.Add(2 * time.Hour), StaleIfErrorUntil: now.Add(24 * time.Hour),
		OriginETag: `W/"o"`, SourceTag: `"src"`, Source: "/photos/cat.jpg", PurgeSeq: 42,
		Downstream: cache.Downstream{ClientMaxAge: 600 * time.Second, ClientLimited: true, MustRevalidate: true}, Clamp: 7}
}

// TestEntryRoundTrip: every field survives the shared tier, times to the
// nanosecond; a remembered not-found too.
func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []*cache.Entry{sampleEntry(), {NotFound: true, StoredAt: time.Unix(5, 0), FreshUntil: time.Unix(15, 0)}} {
		got, err := DecodeEntry(AppendEntry(nil, e))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*time.Time{&got.LastModifiedAt, &got.StoredAt, &got.FreshUntil, &got.StaleWhileRevalidateUntil, &got.StaleIfErrorUntil} {
			*p = p.UTC()
		}
		want := e // a sample of this test's own: normalised in place
		for _, p := range []*time.Time{&want.LastModifiedAt, &want.StoredAt, &want.FreshUntil, &want.StaleWhileRevalidateUntil, &want.StaleIfErrorUntil} {
			if !p.IsZero() {
				*p = p.UTC()
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

// TestForeignValuesMiss: what another program or a broken write left in
// the shared tier never decodes as an entry.
func TestForeignValuesMiss(t *testing.T) {
	good := AppendEntry(nil, sampleEntry())
	for name, b := range map[string][]byte{
		"empty": nil, "text": []byte("hello"), "other magic": append([]byte("iee\x03"), good[4:]...),
		"older format": append([]byte("iee\x01"), good[4:]...),
		"truncated":    good[:len(good)-3], "trailing": append(append([]byte(nil), good...), 0),
	} {
		if _, err := DecodeEntry(b); err == nil {
			t.Errorf("%s decoded", name)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(AppendEntry(nil, sampleEntry()))
	f.Add([]byte("iee\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if again := AppendEntry(nil, e); !bytes.Equal(again, b) && len(b) < 1<<20 {
			if e2, err := DecodeEntry(again); err != nil || !reflect.DeepEqual(e2.Body, e.Body) {
				t.Fatalf("re-encoding changed the entry: %v", err)
			}
		}
	})
}
