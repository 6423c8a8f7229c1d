package transform

// Negotiate reads an Accept header for auto=format. Only explicit mentions of
// image/avif, image/webp and image/jxl with a q-value above 0 count: a wildcard such as
// image/* is sent by clients that cannot decode AVIF, so it must not be read
// as a yes. It does not allocate.
func Negotiate(accept []byte) Accepted {
	var a Accepted
	for len(accept) > 0 {
		i := 0
		for i < len(accept) && accept[i] != ',' {
			i++
		}
		a |= mediaRange(accept[:i])
		if i == len(accept) {
			break
		}
		accept = accept[i+1:]
	}
	return a
}

func mediaRange(r []byte) Accepted {
	r = trimSpace(r)
	typ := r
	params := []byte(nil)
	for i, c := range r {
		if c == ';' {
			typ, params = trimSpace(r[:i]), r[i+1:]
			break
		}
	}
	var which Accepted
	switch {
	case equalFold(typ, "image/avif"):
		which = AcceptAVIF
	case equalFold(typ, "image/webp"):
		which = AcceptWebP
	case equalFold(typ, "image/jxl"):
		which = AcceptJXL
	default:
		return 0
	}
	if qZero(params) {
		return 0
	}
	return which
}

// qZero reports whether the parameters carry q=0 (or 0.0, 0.000).
func qZero(params []byte) bool {
	for len(params) > 0 {
		i := 0
		for i < len(params) && params[i] != ';' {
			i++
		}
		p := trimSpace(params[:i])
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
			v := p[2:]
			if len(v) == 0 || v[0] != '0' {
				return false
			}
			for _, c := range v[1:] {
				if c != '.' && c != '0' {
					return false
				}
			}
			return true
		}
		if i == len(params) {
			break
		}
		params = params[i+1:]
	}
	return false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
