package butler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSubscriber_MergesUpdatesOfARun(t *testing.T) {
	var h hub
	s := h.add()
	defer s.Close()
	h.publish(Event{Type: EventStarted, Activity: Activity{RunID: 1}})
	for p := range 100 {
		h.publish(Event{Type: EventUpdated, Activity: Activity{RunID: 1, Progress: p}})
		h.publish(Event{Type: EventUpdated, Activity: Activity{RunID: 2, Progress: p}})
	}
	h.publish(Event{Type: EventEnded, Activity: Activity{RunID: 1}})
	ctx := context.Background()
	var got []Event
	for range 4 {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []struct {
		typ      EventType
		run      int64
		progress int
	}{{EventStarted, 1, 0}, {EventUpdated, 1, 99}, {EventUpdated, 2, 99}, {EventEnded, 1, 0}}
	for i, w := range want {
		if got[i].Type != w.typ || got[i].Activity.RunID != w.run || got[i].Activity.Progress != w.progress {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], w)
		}
	}
	if s.Dropped() != 198 {
		t.Fatalf("dropped %d, want 198 merged updates", s.Dropped())
	}
}

func TestSubscriber_TooSlowIsClosed(t *testing.T) {
	var h hub
	s := h.add()
	for i := range maxPending + 1 {
		h.publish(Event{Type: EventStarted, Activity: Activity{RunID: int64(i)}})
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrSlowSubscriber) {
		t.Fatalf("Next = %v, want ErrSlowSubscriber", err)
	}
	if h.count() != 0 {
		t.Fatalf("%d subscribers left, want the slow one removed", h.count())
	}
	// Publishing goes on for the others.
	other := h.add()
	h.publish(Event{Type: EventEnded})
	if ev, err := other.Next(context.Background()); err != nil || ev.Type != EventEnded {
		t.Fatalf("other subscriber: %+v %v", ev, err)
	}
}

func TestSubscriber_NextHonoursContextAndClose(t *testing.T) {
	var h hub
	s := h.add()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	done := make(chan error)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	s.Close()
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("Next after Close returned no error")
	}
}

// TestHub_ThousandSubscribersJoinAndLeave has 1,000 subscribers come and go
// while a publisher reports progress without pause: the publisher never
// blocks, every subscriber that stays sees the final event, nothing is left.
func TestHub_ThousandSubscribersJoinAndLeave(t *testing.T) {
	var h hub
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for p := 0; ; p++ {
			select {
			case <-stop:
				return
			default:
			}
			h.publish(Event{Type: EventUpdated, Activity: Activity{RunID: int64(p % 7), Progress: p % 100}})
		}
	}()
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			s := h.add()
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := s.Next(ctx); err != nil {
				t.Errorf("subscriber %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-published
	if n := h.count(); n != 0 {
		t.Fatalf("%d subscribers left after all closed", n)
	}
}

func TestRunLog_Bounded(t *testing.T) {
	var l runLog
	l.Write([]byte("first line\n"))
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 20000 { // 2 MB
		l.Write(line)
	}
	l.Write([]byte("last line\n"))
	s := l.String()
	if len(s) > MaxRunLog+100 {
		t.Fatalf("log is %d bytes, want at most about %d", len(s), MaxRunLog)
	}
	if !strings.HasPrefix(s, "first line\n") || !strings.HasSuffix(s, "last line\n") || !strings.Contains(s, "bytes omitted") {
		t.Fatalf("log lost its head, tail or marker: %q ... %q", s[:40], s[len(s)-40:])
	}
	var small runLog
	small.Write([]byte("a\n"))
	small.Write([]byte("b\n"))
	if small.String() != "a\nb\n" {
		t.Fatalf("small log %q", small.String())
	}
}
