package cli

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	strata "github.com/strata-io/strata/clients/go"
)

// A record template, in the spirit of kcat's -f and rpk's --format: %t
// topic, %p partition, %o offset, %k key, %v value, %T timestamp (Unix
// ms), %h headers (k=v,k=v), %% a percent sign; \n, \t, \r and \\ are
// escapes. %k, %v and %h take {text} (default), {base64} or {hex}; %T
// takes {unix} (default, ms) or {rfc3339}.
type template struct {
	parts []tmplPart
	src   string
}

type tmplPart struct {
	lit  []byte // a literal, when verb is 0
	verb byte
	enc  string // the verb's modifier: text, base64, hex, unix, rfc3339
}

const outputVerbs = "tpokvTh"

// parseTemplate parses s, allowing only the given verbs.
func parseTemplate(s, verbs string) (*template, error) {
	t := &template{src: s}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			t.parts = append(t.parts, tmplPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("template %q ends with a lone \\", s)
			}
			i++
			switch s[i] {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '\\':
				lit = append(lit, '\\')
			default:
				return nil, fmt.Errorf("template %q: unknown escape \\%c (use \\n, \\t, \\r or \\\\)", s, s[i])
			}
		case c == '%':
			if i+1 == len(s) {
				return nil, fmt.Errorf("template %q ends with a lone %%", s)
			}
			i++
			v := s[i]
			if v == '%' {
				lit = append(lit, '%')
				continue
			}
			if !strings.ContainsRune(verbs, rune(v)) {
				return nil, fmt.Errorf("template %q: unknown %%%c (use %s)", s, v, verbList(verbs))
			}
			p := tmplPart{verb: v, enc: "text"}
			if v == 'T' {
				p.enc = "unix"
			}
			if i+1 < len(s) && s[i+1] == '{' {
				end := strings.IndexByte(s[i+1:], '}')
				if end < 0 {
					return nil, fmt.Errorf("template %q: %%%c{ is not closed", s, v)
				}
				p.enc = s[i+2 : i+1+end]
				i += 1 + end
				if err := checkModifier(v, p.enc); err != nil {
					return nil, fmt.Errorf("template %q: %w", s, err)
				}
			}
			flush()
			t.parts = append(t.parts, p)
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return t, nil
}

func checkModifier(verb byte, enc string) error {
	switch verb {
	case 'k', 'v', 'h':
		if enc == "text" || enc == "base64" || enc == "hex" {
			return nil
		}
		return fmt.Errorf("%%%c{%s}: use {text}, {base64} or {hex}", verb, enc)
	case 'T':
		if enc == "unix" || enc == "rfc3339" {
			return nil
		}
		return fmt.Errorf("%%T{%s}: use {unix} or {rfc3339}", enc)
	}
	return fmt.Errorf("%%%c takes no modifier", verb)
}

func verbList(verbs string) string {
	var out []string
	for _, v := range verbs {
		out = append(out, "%"+string(v))
	}
	return strings.Join(out, " ")
}

func encode(dst []byte, b []byte, enc string) []byte {
	switch enc {
	case "base64":
		return base64.StdEncoding.AppendEncode(dst, b)
	case "hex":
		return hex.AppendEncode(dst, b)
	}
	return append(dst, b...)
}

// format appends r as the template says.
func (t *template) format(dst []byte, r *strata.Record) []byte {
	for _, p := range t.parts {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = encode(dst, r.Key, p.enc)
		case 'v':
			dst = encode(dst, r.Value, p.enc)
		case 'T':
			if p.enc == "rfc3339" {
				dst = r.Timestamp.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
			} else {
				dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
			}
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = encode(dst, h.Value, p.enc)
			}
		}
	}
	return dst
}

// recordJSON is one record of `--output json` (NDJSON). A key, value or
// header value that is not valid UTF-8 is base64 and flagged so.
type recordJSON struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Key         *string      `json:"key"`
	KeyBase64   bool         `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 bool         `json:"value_base64,omitempty"`
	Headers     []headerJSON `json:"headers"`
	Timestamp   int64        `json:"timestamp"` // Unix ms
}

type headerJSON struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 bool    `json:"value_base64,omitempty"`
}

func jsonBytes(b []byte) (*string, bool) {
	if b == nil {
		return nil, false
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, false
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, true
}

func toRecordJSON(r *strata.Record) recordJSON {
	j := recordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Headers: []headerJSON{}, Timestamp: r.Timestamp.UnixMilli()}
	j.Key, j.KeyBase64 = jsonBytes(r.Key)
	j.Value, j.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		hj := headerJSON{Key: h.Key}
		hj.Value, hj.ValueBase64 = jsonBytes(h.Value)
		j.Headers = append(j.Headers, hj)
	}
	return j
}

// appendJSON appends r as one JSON line.
func appendJSON(dst []byte, r *strata.Record) []byte {
	b, _ := json.Marshal(toRecordJSON(r)) // cannot fail: strings, numbers, bools
	return append(append(dst, b...), '\n')
}

// inputTemplate reads records from a stream: %k and %v (each with {text},
// {base64} or {hex}) separated by literals, e.g. '%k %v\n'. A field reads
// up to the literal that follows it; the last field, if nothing follows,
// reads to the end of the input.
type inputTemplate struct {
	t   *template
	max int // bound on one field
}

func parseInputTemplate(s string, maxField int) (*inputTemplate, error) {
	t, err := parseTemplate(s, "kv")
	if err != nil {
		return nil, err
	}
	seen := map[byte]bool{}
	for i, p := range t.parts {
		if p.verb == 0 {
			continue
		}
		if i+1 < len(t.parts) && t.parts[i+1].verb != 0 {
			return nil, fmt.Errorf("template %q: %%%c and %%%c need a separator between them", s, p.verb, t.parts[i+1].verb)
		}
		if seen[p.verb] {
			return nil, fmt.Errorf("template %q has %%%c twice", s, p.verb)
		}
		seen[p.verb] = true
	}
	if !seen['v'] && !seen['k'] {
		return nil, fmt.Errorf("template %q has neither %%k nor %%v", s)
	}
	return &inputTemplate{t: t, max: maxField}, nil
}

// errTooLong is a field longer than the bound.
var errTooLong = errors.New("too long")

// read reads the next record's key and value; io.EOF at a clean end of
// input. A last literal missing at the end of input (a last line without
// its newline) is accepted.
func (it *inputTemplate) read(br *bufio.Reader) (key, value []byte, err error) {
	parts := it.t.parts
	started := false
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		if p.verb == 0 {
			got, err := readN(br, len(p.lit))
			if err == io.EOF {
				if !started && len(got) == 0 {
					return nil, nil, io.EOF
				}
				if i == len(parts)-1 && len(got) == 0 {
					return key, value, nil
				}
				return nil, nil, fmt.Errorf("input ended inside %q of the template", p.lit)
			}
			if err != nil {
				return nil, nil, err
			}
			if !bytes.Equal(got, p.lit) {
				return nil, nil, fmt.Errorf("input %q does not match %q of the template", got, p.lit)
			}
			started = true
			continue
		}
		var delim []byte
		if i+1 < len(parts) {
			delim = parts[i+1].lit
		}
		field, err := readUntil(br, delim, it.max)
		atEOF := err == io.EOF
		switch {
		case err == errTooLong:
			return nil, nil, fmt.Errorf("a %%%c field is longer than %d bytes", p.verb, it.max)
		case err != nil && !atEOF:
			return nil, nil, err
		case atEOF && !started && len(field) == 0:
			return nil, nil, io.EOF
		}
		started = true
		if field, err = decode(field, p.enc); err != nil {
			return nil, nil, fmt.Errorf("%%%c{%s}: %w", p.verb, p.enc, err)
		}
		if p.verb == 'k' {
			key = field
		} else {
			value = field
		}
		if delim != nil {
			i++ // readUntil consumed the delimiter
			if atEOF && i != len(parts)-1 {
				return nil, nil, fmt.Errorf("input ended before %q of the template", delim)
			}
			if atEOF {
				return key, value, nil
			}
		}
	}
	return key, value, nil
}

func readN(br *bufio.Reader, n int) ([]byte, error) {
	got := make([]byte, 0, n)
	for len(got) < n {
		c, err := br.ReadByte()
		if err != nil {
			return got, err
		}
		got = append(got, c)
	}
	return got, nil
}

// readUntil reads up to and including delim (nil: to the end of input) and
// returns what came before it; io.EOF when the input ended first.
func readUntil(br *bufio.Reader, delim []byte, max int) ([]byte, error) {
	var out []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return out, err
		}
		out = append(out, c)
		if len(delim) > 0 && bytes.HasSuffix(out, delim) {
			return out[:len(out)-len(delim)], nil
		}
		if len(out) > max+len(delim) {
			return nil, errTooLong
		}
	}
}

func decode(b []byte, enc string) ([]byte, error) {
	switch enc {
	case "base64":
		out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(out, b)
		return out[:n], err
	case "hex":
		out := make([]byte, hex.DecodedLen(len(b)))
		n, err := hex.Decode(out, b)
		return out[:n], err
	}
	return b, nil
}
