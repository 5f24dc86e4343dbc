package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/strata-project/strata/internal/errdefs"
	"github.com/strata-project/strata/internal/progress"
)

// newTable is docker's table writer: columns padded by three spaces.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

var fieldRe = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// headerName turns a template field into docker's column title.
func headerName(field string) string {
	switch field {
	case "ID":
		return "IMAGE ID"
	case "CreatedSince", "CreatedAt":
		return "CREATED"
	case "CreatedBy":
		return "CREATED BY"
	case "Size":
		return "SIZE"
	}
	var b strings.Builder
	for i, r := range field {
		if i > 0 && r >= 'A' && r <= 'Z' && !(field[i-1] >= 'A' && field[i-1] <= 'Z') {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// render prints rows with a docker --format value: "" (the default table),
// "json" (one object a line), "table TEMPLATE", or a bare Go template.
func render[T any](w io.Writer, format, defTable string, rows []T, headers map[string]string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	table := false
	if format == "" {
		format, table = defTable, true
	} else if strings.HasPrefix(format, "table") {
		format, table = strings.TrimSpace(strings.TrimPrefix(format, "table")), true
		if format == "" {
			format = defTable
		}
	}
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	// Unnamed, as docker's: `template: :1:2: executing "" at <.Nope>: ...`.
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"json":  func(v any) string { b, _ := json.Marshal(v); return string(b) },
		"upper": strings.ToUpper, "lower": strings.ToLower,
		"join": strings.Join, "truncate": func(s string, n int) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
	}).Parse(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = newTable(w)
		out = tw
		header := fieldRe.ReplaceAllStringFunc(format, func(m string) string {
			f := fieldRe.FindStringSubmatch(m)[1]
			if h, ok := headers[f]; ok {
				return h
			}
			return headerName(f)
		})
		fmt.Fprintln(out, header)
	}
	// A template naming a field the rows lack fails even with no rows, as
	// docker's does.
	var zero T
	if err := tmpl.Execute(io.Discard, zero); err != nil && strings.Contains(err.Error(), "can't evaluate field") {
		return templateError(err, zero)
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, r); err != nil {
			return templateError(err, r)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

var inTypeRe = regexp.MustCompile(` in type [\w.*\[\]]+`)

// templateError words a --format execution error for the person who wrote
// the template: text/template names the Go type it was given (cli.psRow),
// which means nothing to them; the fields they may use do.
func templateError(err error, row any) error {
	msg := inTypeRe.ReplaceAllString(err.Error(), "")
	if t := reflect.TypeOf(row); t != nil && t.Kind() == reflect.Struct && strings.Contains(msg, "can't evaluate field") {
		var fields []string
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				fields = append(fields, f.Name)
			}
		}
		msg += " (the fields are " + strings.Join(fields, ", ") + ")"
	}
	return fmt.Errorf("--format: %s: %w", msg, errdefs.ErrInvalidArgument)
}

// humanSize is progress.HumanSize, the one size formatter, for the tables.
func humanSize(n int64) string { return progress.HumanSize(n) }

// humanDuration is docker's "About an hour" style.
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	m := int(d.Minutes())
	switch {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	h := int(d.Round(time.Hour).Hours())
	switch {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", h/24/365)
}

func since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return humanDuration(time.Since(t)) + " ago"
}

func shortHex(s string, trunc bool) string {
	if !trunc {
		return s
	}
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
