package progress

import (
	"testing"
	"unicode/utf8"
)

// A RUN's output is drawn in the build display: whatever a command
// prints, the drawn line holds no control character (no escape sequence
// reaches the terminal) and fits its width.
func FuzzCleanLine(f *testing.F) {
	for _, s := range []string{
		"plain", "tab\there", "50%\r100%\r\n", "\x1b[31mred\x1b[0m", "\x1b]0;title\a",
		"\x1b]8;;http://x\x1b\\link", "\xc2\x9b2J", "\x7f\x00\x07", "\xff\xfe", "日本語の行",
	} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, width int) {
		width = (width%200+200)%200 + 1 // 1..200, whatever the sign
		c := clean(s)
		for _, r := range c {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("clean(%q) = %q keeps control character %U", s, c, r)
			}
		}
		if tr := truncate(c, width); utf8.RuneCountInString(tr) > width || tr != c[:len(tr)] {
			t.Fatalf("truncate(%q, %d) = %q: not a prefix of at most %d runes", c, width, tr, width)
		}
		if width > 5 {
			if line := fit(c, "1.2s", width); utf8.RuneCountInString(line) != width {
				t.Fatalf("fit(%q, 1.2s, %d) = %q: %d runes", c, width, line, utf8.RuneCountInString(line))
			}
		}
	})
}
