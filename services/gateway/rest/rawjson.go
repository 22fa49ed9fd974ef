package rest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// JSON values of a produce body are kept as sent. protojson would decode
// {"json": <value>} into a google.protobuf.Value (numbers as doubles,
// objects as maps, about 1 µs and 100 bytes a value), only for the gateway
// to encode it again. inlineJSON rewrites each key, value and header value
// given as {"json": V} into {"binary": "<base64 of V compacted>"} before
// protojson decodes the body, so V is stored as the client wrote it, less
// whitespace: same key order, same numbers. Where the body is not the
// shape it expects (or not JSON), it leaves the body alone and protojson
// reports the error.

// inlineJSON returns body with its JSON values inlined, or body itself.
func inlineJSON(body []byte) []byte {
	s := &scanner{b: body}
	if !s.produceBody() || len(s.edits) == 0 {
		return body
	}
	out := make([]byte, 0, len(body)+len(body)/3)
	last := 0
	for _, e := range s.edits {
		out = append(out, body[last:e.from]...)
		out = append(out, `"binary":"`...)
		out = base64.StdEncoding.AppendEncode(out, e.value)
		out = append(out, '"')
		last = e.to
	}
	return append(out, body[last:]...)
}

// scanner walks a produce body far enough to find its JSON values.
type scanner struct {
	b     []byte
	i     int
	edits []edit
}

// edit replaces b[from:to] (`"json": V`) with V compacted as binary.
type edit struct {
	from, to int
	value    []byte
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) peek(c byte) bool {
	s.ws()
	return s.i < len(s.b) && s.b[s.i] == c
}

func (s *scanner) eat(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its raw text (escapes not decoded).
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		default:
			s.i++
		}
	}
	return nil, false
}

// skip passes over one value, checking only that brackets and strings
// close.
func (s *scanner) skip() bool {
	s.ws()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return true
			}
		}
		return false
	default: // a number, true, false or null
		start := s.i
		for s.i < len(s.b) && !bytes.ContainsRune([]byte(" \t\r\n,}]"), rune(s.b[s.i])) {
			s.i++
		}
		return s.i > start
	}
}

// object reads an object, calling field for each member with the scanner
// at its value; field must consume the value.
func (s *scanner) object(field func(name []byte, keyAt int) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		s.ws()
		keyAt := s.i
		name, ok := s.str()
		if !ok || !s.eat(':') || !field(name, keyAt) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element.
func (s *scanner) array(elem func() bool) bool {
	if !s.eat('[') {
		return false
	}
	if s.eat(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.eat(']') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// orNull reads null or what f reads.
func (s *scanner) orNull(f func() bool) bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return f()
}

func (s *scanner) produceBody() bool {
	return s.object(func(name []byte, _ int) bool {
		if string(name) != "records" {
			return s.skip()
		}
		return s.orNull(func() bool { return s.array(s.record) })
	})
}

func (s *scanner) record() bool {
	return s.object(func(name []byte, _ int) bool {
		switch string(name) {
		case "key", "value":
			return s.orNull(s.data)
		case "headers":
			return s.orNull(func() bool {
				return s.array(func() bool {
					return s.object(func(name []byte, _ int) bool {
						if string(name) == "value" {
							return s.orNull(s.data)
						}
						return s.skip()
					})
				})
			})
		default:
			return s.skip()
		}
	})
}

// data reads a Data object, noting an edit for its json member.
func (s *scanner) data() bool {
	return s.object(func(name []byte, keyAt int) bool {
		if string(name) != "json" {
			return s.skip()
		}
		s.ws()
		start := s.i
		if !s.skip() {
			return false
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, s.b[start:s.i]); err != nil {
			return false
		}
		s.edits = append(s.edits, edit{from: keyAt, to: s.i, value: compact.Bytes()})
		return true
	})
}
