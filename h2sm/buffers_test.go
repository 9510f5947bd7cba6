package h2sm

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// poisonPool is a BufferPool that fills every buffer it takes back with
// 0xEE, so that a Conn using a buffer after Put sends garbage, and counts
// the buffers lent and not returned.
type poisonPool struct {
	free [][]byte
	out  int
}

func (p *poisonPool) Get() []byte {
	p.out++
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return make([]byte, 0, 64)
}

func (p *poisonPool) Put(b []byte) {
	p.out--
	b = b[:cap(b)]
	for i := range b {
		b[i] = 0xEE
	}
	p.free = append(p.free, b[:0])
}

// TestBufferPool: with Config.Buffers the Conn sends the same bytes as
// without, never uses a buffer it gave back (the pool poisons them), and
// holds no buffer once its output was taken.
func TestBufferPool(t *testing.T) {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	var in []byte
	in = append(in, clientPreface...)
	in = append(in, wireSettings()...)
	in = append(in, wireSettingsAck()...)
	for id := uint32(1); id <= 9; id += 2 {
		in = append(in, wireHeaders(id, hpackBlock(enc, &hbuf, getRequest...), true, 16384)...)
	}
	run := func(pool *poisonPool, take bool) (wire []byte, lentIdle int) {
		cfg := Config{}
		if pool != nil {
			cfg.Buffers = pool
		}
		now := testEpoch
		c, err := NewConn(now, cfg)
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Repeat([]byte("b"), 40000)
		for p := in; len(p) > 0; {
			n := c.Receive(now, p[:min(len(p), 100)])
			p = p[n:]
			for ev, ok := c.NextEvent(); ok; ev, ok = c.NextEvent() {
				if ev.Kind != EventRequest {
					continue
				}
				fields := []HeaderField{{Name: ":status", Value: "200"}, {Name: "x-stream", Value: strconv.Itoa(int(ev.Stream))}}
				if err := c.WriteHeaders(now, ev.Stream, fields, false); err != nil {
					t.Fatal(err)
				}
				if _, err := c.WriteData(now, ev.Stream, body[:int(ev.Stream)*1000], true); err != nil {
					t.Fatal(err)
				}
			}
			// Partial writes through the view, then the rest appended.
			if v := c.Outgoing(); len(v) > 0 {
				k := (len(v) + 1) / 2
				wire = append(wire, v[:k]...)
				c.Advance(k)
			}
			if take {
				// The buffer is ours: copy it out, then hand it back
				// poisoned.
				b := c.TakeOutgoing()
				wire = append(wire, b...)
				if pool != nil && b != nil {
					pool.Put(b)
				}
			}
			wire = c.AppendOutgoing(wire)
		}
		for v := c.AppendOutgoing(nil); len(v) > 0; v = c.AppendOutgoing(nil) {
			wire = append(wire, v...)
		}
		if pool != nil {
			lentIdle = pool.out
		}
		c.Shutdown(now)
		wire = c.AppendOutgoing(wire)
		return wire, lentIdle
	}
	want, _ := run(nil, false)
	for _, take := range []bool{false, true} {
		pool := &poisonPool{}
		got, lent := run(pool, take)
		if !bytes.Equal(got, want) {
			t.Fatalf("take=%v: with a BufferPool the output differs (%d bytes, want %d)", take, len(got), len(want))
		}
		if lent != 0 {
			t.Errorf("take=%v: %d buffers still lent after all output was taken, want 0", take, lent)
		}
		if len(pool.free) == 0 {
			t.Errorf("take=%v: the pool was never used", take)
		}
		if got, _ := run(nil, take); !bytes.Equal(got, want) {
			t.Fatalf("take=%v without a pool: the output differs", take)
		}
	}
}

// TestStatsCopiesEveryCounter: Stats reports every counter the Conn keeps,
// under the same name.
func TestStatsCopiesEveryCounter(t *testing.T) {
	c, err := NewConn(testEpoch, Config{})
	if err != nil {
		t.Fatal(err)
	}
	kv := reflect.ValueOf(&c.stats).Elem()
	for i := 0; i < kv.NumField(); i++ {
		switch f := kv.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(1000 + i))
		case reflect.Array:
			for j := 0; j < f.Len(); j++ {
				f.Index(j).SetUint(uint64(2000 + 100*i + j))
			}
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]uint64{"reason": uint64(i)}))
		}
	}
	sv := reflect.ValueOf(c.Stats())
	for i := 0; i < kv.NumField(); i++ {
		name := kv.Type().Field(i).Name
		got := sv.FieldByName(name)
		if !got.IsValid() {
			t.Errorf("Stats has no field %s", name)
			continue
		}
		if !reflect.DeepEqual(got.Interface(), kv.Field(i).Interface()) {
			t.Errorf("Stats().%s = %v, want %v", name, got.Interface(), kv.Field(i).Interface())
		}
	}
}
