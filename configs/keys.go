package configs

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// checkKeys walks a YAML document against the Config it is decoded into and
// reports its first unknown key by path and line, with the nearest known key
// beside it (cache.tll: did you mean cache.ttl?); a Go type name means
// nothing to an operator. lines maps each value's line to its key and what
// it holds, for typeError.
func checkKeys(root *yaml.Node, lines map[int]keyAt, file string) error {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 {
		return nil // an empty document
	}
	return walkKeys(root, reflect.TypeOf(Config{}), "", lines, file)
}

// keyAt is a key's dotted path and a description of the values it takes.
type keyAt struct{ path, want, value string }

func walkKeys(n *yaml.Node, t reflect.Type, path string, lines map[int]keyAt, file string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && !customYAML(t):
		if n.Kind != yaml.MappingNode {
			return placedError(fmt.Sprintf("config: %s:%d: %s: a section of keys (key: value), not %s", file, n.Line, orRoot(path), describeNode(n)))
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				fields[tag] = f
				names = append(names, tag)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("config: %s:%d: %s: unknown key", file, k.Line, join(path, k.Value))
				if s := nearest(k.Value, names); s != "" {
					msg += "; did you mean " + join(path, s) + "?"
				} else {
					msg += "; known here: " + strings.Join(names, ", ")
				}
				return placedError(msg)
			}
			if err := walkKeys(v, f.Type, join(path, k.Value), lines, file); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if err := walkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, file); err != nil {
				return err
			}
		}
	default:
		if n.Kind == yaml.SequenceNode {
			// YAML's decoder drops a null item from a list: an item left
			// empty (a template's unset variable) would vanish, and a key
			// list of one such item would start the edge unsigned.
			for i, item := range n.Content {
				if item.Kind == yaml.ScalarNode && item.Tag == "!!null" {
					return placedError(fmt.Sprintf("config: %s:%d: %s[%d]: a list item left empty (null); give it a value or remove it", file, item.Line, path, i))
				}
			}
		}
		lines[n.Line] = keyAt{path: path, want: describeType(t), value: describeNode(n)}
	}
	return nil
}

// placedError is a message that already says where and what: the file
// and line, or the variable.
type placedError string

func (e placedError) Error() string { return string(e) }

func customYAML(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// nearest is the known name within a few edits of name, or "".
func nearest(name string, known []string) string {
	best, bestD := "", max(2, len(name)/3)+1
	for _, k := range known {
		if d := levenshtein.ComputeDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// describeNode is a value as an operator wrote it: its text, or what kind
// of YAML it is.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.ScalarNode:
		return n.Value
	}
	return "this"
}

// describeType says in words what a field takes.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem() // an optional value: what it holds when set
	}
	switch t {
	case reflect.TypeOf(Duration(0)):
		return "a duration, e.g. 10s"
	case reflect.TypeOf(Size(0)):
		return "a size, e.g. 256MiB"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if k := t.Elem().Kind(); k == reflect.Int || k == reflect.Int64 {
			return "comma separated integers in a list, e.g. [320, 640, 1280]"
		}
		return "a list, e.g. [a, b]"
	case reflect.Map:
		return "a map of names to values"
	}
	return "a value"
}

var yamlTypeError = regexp.MustCompile(`line (\d+): cannot unmarshal !!\w+ (?:` + "`" + `[^` + "`" + `]*` + "`" + ` )?into `)

// typeError rewrites yaml's "cannot unmarshal !!str `x` into int" into the
// key, where it is and what it takes.
func typeError(err error, lines map[int]keyAt, file string) error {
	m := yamlTypeError.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("config: %s: %w", file, err)
	}
	line, _ := strconv.Atoi(m[1])
	at, ok := lines[line]
	if !ok {
		return placedError(fmt.Sprintf("config: %s:%d: this value is not valid here", file, line))
	}
	// The node's own text: yaml's message shortens long values.
	return &KeyError{Where: fmt.Sprintf("%s:%d", file, line), Key: at.path, Value: at.value, Allowed: at.want}
}
