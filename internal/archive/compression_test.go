package archive

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/strata-project/strata/internal/errdefs"
)

func compressBytes(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Compress(&buf, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testPayload is compressible but not trivially so.
func testPayload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer", "tar", "whiteout", "opaque", "overlay", "\x00\x00\x00", "sha256:"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(byte(r.IntN(256)))
	}
	return b.Bytes()[:n]
}

func TestCompressionRoundTrip(t *testing.T) {
	data := testPayload(3 << 20)
	for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			z := compressBytes(t, c, data)
			if c != Uncompressed && len(z) >= len(data) {
				t.Errorf("compressed %d bytes to %d", len(data), len(z))
			}
			got, err := DetectCompression(bufio.NewReader(bytes.NewReader(z)))
			if err != nil || got != c {
				t.Errorf("DetectCompression = %v, %v; want %v", got, err, c)
			}
			rc, gotC, err := Decompress(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if gotC != c {
				t.Errorf("Decompress detected %v, want %v", gotC, c)
			}
			out, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, data) {
				t.Errorf("round trip changed the data (%d bytes, want %d)", len(out), len(data))
			}
			if again := compressBytes(t, c, data); !bytes.Equal(again, z) {
				t.Errorf("%v output is not deterministic", c)
			}
		})
	}
}

func TestDetectCompressionShort(t *testing.T) {
	for _, in := range []string{"", "\x1f", "\x28\xb5", "ustar"} {
		got, err := DetectCompression(bufio.NewReader(strings.NewReader(in)))
		if err != nil || got != Uncompressed {
			t.Errorf("DetectCompression(%q) = %v, %v; want uncompressed", in, got, err)
		}
	}
}

func TestDecompressDamaged(t *testing.T) {
	data := testPayload(1 << 20)
	for _, c := range []Compression{Gzip, Zstd} {
		z := compressBytes(t, c, data)
		flipped := append([]byte(nil), z...)
		flipped[len(flipped)/2] ^= 0xff
		garbageHeader := append([]byte(nil), z[:len(zstdMagic)]...)
		garbageHeader = append(garbageHeader, bytes.Repeat([]byte{0xee}, 64)...)
		for name, in := range map[string][]byte{
			"truncated":      z[:len(z)/2],
			"truncated tail": z[:len(z)-4],
			"corrupt":        flipped,
			"magic only":     z[:map[Compression]int{Gzip: 2, Zstd: 4}[c]],
			"garbage":        garbageHeader,
		} {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				rc, _, err := Decompress(bytes.NewReader(in))
				if err == nil {
					_, err = io.ReadAll(rc)
					rc.Close()
				}
				if err == nil {
					t.Fatal("no error")
				}
				if !errors.Is(err, errdefs.ErrDataCorrupt) {
					t.Errorf("error %q is not ErrDataCorrupt", err)
				}
				if !strings.Contains(err.Error(), c.String()) {
					t.Errorf("error %q does not say %v", err, c)
				}
			})
		}
	}
}

func TestCompressUnknown(t *testing.T) {
	if _, err := Compress(io.Discard, Compression(9), 0); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("got %v, want ErrInvalidArgument", err)
	}
	if got := Compression(9).String(); got != "compression(9)" {
		t.Errorf("String() = %q", got)
	}
}
