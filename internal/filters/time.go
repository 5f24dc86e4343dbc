package filters

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
)

// ParseTime reads a --since or --until value (or until=) as docker does: an RFC 3339
// time (or a prefix of one: a date, a date and hours:minutes; local time
// when no zone is given), Unix seconds with an optional fraction, or a
// duration before now ("10m", "1h30m").
func ParseTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if ok {
				f, err := strconv.ParseFloat("0."+frac, 64)
				if err != nil {
					return time.Time{}, fmt.Errorf("%q: not a time: %w", v, errdefs.ErrInvalidArgument)
				}
				ns = int64(f * 1e9)
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if strings.Contains(layout, "Z07") {
			if t, err := time.Parse(layout, v); err == nil {
				return t, nil
			}
			continue
		}
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2006-01-02T15:04:05Z), Unix seconds or a duration such as 10m: %w", v, errdefs.ErrInvalidArgument)
}
