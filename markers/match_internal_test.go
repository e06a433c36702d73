package markers

import (
	"math/rand/v2"
	"testing"
	"time"
)

// randomPrint returns n items of a random fingerprint.
func randomPrint(r *rand.Rand, n int) []uint32 {
	fp := make([]uint32, n)
	for i := range fp {
		fp[i] = r.Uint32()
	}
	return fp
}

// flip returns v with k random bits changed.
func flip(r *rand.Rand, v uint32, k int) uint32 {
	for _, b := range r.Perm(32)[:k] {
		v ^= 1 << b
	}
	return v
}

var testMatcher = matcher{maxDiff: 6, maxGap: 28, maxRepeat: 8}

// TestCompare: a segment of 200 items put into two random fingerprints
// at different places, a few bits of some of its items changed and a
// few items replaced, is found where it is, to the item.
func TestCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seg := randomPrint(r, 200)
	a, b := randomPrint(r, 1000), randomPrint(r, 1200)
	copy(a[150:], seg)
	copy(b[420:], seg)
	for i := 150; i < 350; i += 3 {
		a[i] = flip(r, a[i], 3)
	}
	for _, i := range []int{160, 161, 162, 240, 300} {
		b[i+270] = r.Uint32()
	}
	got, ok := testMatcher.compare(a, b, 50, 1000)
	if !ok {
		t.Fatal("the shared segment was not found")
	}
	if got.a0 != 150 || got.a1 != 349 || got.shift != 270 {
		t.Errorf("found items %d-%d at shift %d, want 150-349 at 270", got.a0, got.a1, got.shift)
	}
	if _, ok := testMatcher.compare(a, b, 201, 1000); ok {
		t.Error("a segment longer than the shared one was found")
	}
	if _, ok := testMatcher.compare(a, b, 10, 199); ok {
		t.Error("a segment shorter than the shared one was found")
	}
}

// TestCompare_Unrelated: random fingerprints, and fingerprints that share
// only a steady stretch (silence: the same item over and over), share
// nothing.
func TestCompare_Unrelated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randomPrint(r, 2000), randomPrint(r, 2000)
	if got, ok := testMatcher.compare(a, b, 20, 2000); ok {
		t.Errorf("random fingerprints share items %d-%d at shift %d", got.a0, got.a1, got.shift)
	}
	for i := 500; i < 900; i++ {
		a[i], b[i+100] = 0x77f96d25, 0x77f96d25
	}
	if got, ok := testMatcher.compare(a, b, 20, 2000); ok {
		t.Errorf("silence shared: items %d-%d at shift %d found", got.a0, got.a1, got.shift)
	}
}

// TestLongest_Sparse: matches scattered among more items that do not
// match (as noise makes between noise) are no run; a run takes a gap
// within it but not one longer than maxGap.
func TestLongest_Sparse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, b := randomPrint(r, 600), randomPrint(r, 600)
	for i := 0; i < 600; i += 4 { // a quarter of the items match
		b[i] = flip(r, a[i], 2)
	}
	if got, ok := testMatcher.longest(a, b, 0); ok && got.len() > 10 {
		t.Errorf("a quarter of matching items made a run of %d items", got.len())
	}
	a, b = randomPrint(r, 600), randomPrint(r, 600)
	copy(b[100:300], a[100:300])
	for i := 180; i < 200; i++ { // a gap of 20 items
		b[i] = ^a[i]
	}
	got, ok := testMatcher.longest(a, b, 0)
	if !ok || got.a0 != 100 || got.a1 != 299 {
		t.Errorf("run %+v, want items 100-299 across their gap", got)
	}
	for i := 170; i < 210; i++ { // a gap of 40 items, more than maxGap
		b[i] = ^a[i]
	}
	if got, _ := testMatcher.longest(a, b, 0); got.len() > 100 {
		t.Errorf("run %+v spans a gap longer than maxGap", got)
	}
}

// TestItemStep: the constants follow from Chromaprint's: 1,365 samples
// at 11,025 Hz, an item over 20 frames.
func TestItemStep(t *testing.T) {
	if ItemStep < 123809*time.Microsecond || ItemStep > 123810*time.Microsecond {
		t.Errorf("ItemStep %s, want 0.1238095 s", ItemStep)
	}
	if ItemSpan < 2723*time.Millisecond || ItemSpan > 2724*time.Millisecond {
		t.Errorf("ItemSpan %s, want 2.7239 s", ItemSpan)
	}
	if got := items(ItemSpan + 10*ItemStep); got != 11 {
		t.Errorf("items of a span and ten steps: %d, want 11", got)
	}
}

// TestParseBlack: blackdetect's marks become spans in the file's time; a
// stretch still black at the end of the read ends there.
func TestParseBlack(t *testing.T) {
	out := []byte("frame:40   pts:4000    pts_time:4\nlavfi.black_start=4\n" +
		"frame:120  pts:12000   pts_time:12\nlavfi.black_end=12.5\n" +
		"frame:150  pts:15000   pts_time:15\nlavfi.black_start=15\n")
	got := parseBlack(out, 100*time.Second, 30*time.Second)
	want := []Span{{104 * time.Second, 112500 * time.Millisecond}, {115 * time.Second, 130 * time.Second}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("spans %v, want %v", got, want)
	}
	if s, ok := creditsBlack(got, 131*time.Second, 10*time.Second); !ok || s != want[1] {
		t.Errorf("credits' black %v %v, want %v", s, ok, want[1])
	}
	if _, ok := creditsBlack(got, 140*time.Second, 10*time.Second); ok {
		t.Error("black that ends 10 s before the end was taken for credits")
	}
	if _, ok := creditsBlack(got, 131*time.Second, 20*time.Second); ok {
		t.Error("15 s of black was taken for credits of at least 20 s")
	}
}

// TestEdge: the waveforms' edge is found to the block, silence shared at
// the edge left out.
func TestEdge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	n := 8 * pcmRate
	a, b := make([]float32, n), make([]float32, n+100)
	for i := range a {
		a[i] = float32(r.NormFloat64() * 0.1)
		b[i+100] = float32(r.NormFloat64() * 0.1)
	}
	// The same audio from 3 s to 6 s, after a second of silence in both.
	for i := 3 * pcmRate; i < 6*pcmRate; i++ {
		b[i+100] = a[i] * 0.8
	}
	for i := 2 * pcmRate; i < 3*pcmRate; i++ {
		a[i], b[i+100] = 0, 0
	}
	lag, c := align(a, b, 4*pcmRate, samples(alignLength), 90, 20)
	if lag != 100 || c < 0.99 {
		t.Fatalf("aligned at lag %d (correlation %.3f), want 100", lag, c)
	}
	if got := edge(a, b, 4*pcmRate, lag, -1); got != 3*pcmRate {
		t.Errorf("start edge at sample %d, want %d", got, 3*pcmRate)
	}
	if got := edge(a, b, 4*pcmRate, lag, 1); got != 6*pcmRate {
		t.Errorf("end edge at sample %d, want %d", got, 6*pcmRate)
	}
}
