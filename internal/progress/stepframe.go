package progress

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// frame lays out the display at now (d.mu held). The live area keeps
// below height lines; the final one has every step and no output lines.
func (d *StepDisplay) frame(now time.Time, width, height int, final bool) []string {
	// Keep off the last column: some terminals wrap as soon as it is
	// written, which would push the live area down a line per frame.
	cols := max(width-1, minWidth)
	done := 0
	for _, s := range d.steps {
		if s.state != StepStarted {
			done++
		}
	}
	elapsed := now.Sub(d.start)
	if final {
		elapsed = d.end.Sub(d.start)
	}
	header := fmt.Sprintf("[+] Building %.1fs (%d/%d)", elapsed.Seconds(), done, max(d.total, len(d.steps)))
	if final && d.ok {
		header += " FINISHED"
	}
	type block struct {
		lines []string
		live  bool // running or failed: kept when the area is too tall
	}
	blocks := make([]block, 0, len(d.steps))
	n := 1
	for _, s := range d.steps {
		label := ""
		switch s.state {
		case StepCached:
			label = "CACHED "
		case StepFailed:
			label = "ERROR "
		case StepCanceled:
			label = "CANCELED "
		}
		end := s.end
		if s.state == StepStarted {
			end = now
		}
		dt := max(end.Sub(s.start), 0)
		bl := block{live: s.state == StepStarted || s.state == StepFailed}
		bl.lines = append(bl.lines, fit(" => "+label+s.name, fmt.Sprintf("%.1fs", dt.Seconds()), cols))
		if bl.live && !final {
			for _, l := range s.logs[max(len(s.logs)-d.nlog, 0):] {
				bl.lines = append(bl.lines, fit(" => => # "+l.text, "", cols))
			}
		}
		blocks = append(blocks, bl)
		n += len(bl.lines)
	}
	// The live area must fit on the screen, or cursor-up cannot reach its
	// top: leave out finished steps, oldest first, then the top lines.
	limit := height - 1
	if final || height <= 0 {
		limit = n
	}
	limit = max(limit, 2)
	for i := 0; i < len(blocks) && n > limit; i++ {
		if !blocks[i].live {
			n -= len(blocks[i].lines)
			blocks[i].lines = nil
		}
	}
	var body []string
	for _, bl := range blocks {
		body = append(body, bl.lines...)
	}
	if len(body) > limit-1 {
		body = body[len(body)-(limit-1):]
	}
	return append([]string{truncate(header, cols)}, body...)
}

// fit writes left and, if not "", right aligned to the end of a line of
// width columns, cutting left to make room.
func fit(left, right string, width int) string {
	if right == "" {
		return truncate(left, width)
	}
	room := max(width-len(right)-1, 0)
	left = truncate(left, room)
	return left + strings.Repeat(" ", room-utf8.RuneCountInString(left)) + " " + right
}

// truncate cuts s to width runes. A rune counts as one column: wide
// (East Asian) characters make a line longer than it is counted.
func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < width {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i]
}

// clean makes a line of a command's output safe to draw in a line of
// the display: what follows its last carriage return (a progress bar's
// latest state), tabs expanded, escape sequences and other control
// characters removed.
func clean(s string) string {
	s = strings.TrimRight(s, "\r")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	col := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\x1b':
			i = skipEscape(s, i)
		case r == '\t':
			for {
				b.WriteByte(' ')
				col++
				if col%8 == 0 {
					break
				}
			}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
			col++
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

// skipEscape returns the index after the escape sequence whose ESC ends
// at i: CSI ("ESC [ … final byte"), OSC ("ESC ] … BEL or ESC \"), or
// ESC and one more character.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		for i++; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']':
		for i++; i < len(s); i++ {
			if s[i] == '\a' {
				return i + 1
			}
			if s[i] == '\x1b' && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	return i + 1
}
