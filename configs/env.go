package configs

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// applyEnv lays every IMGEDGE_* variable of environ over c. The variable names
// are derived from the YAML tags, so every key has one without a hand-kept list;
// an IMGEDGE_* name that matches no key is an error, so typos do not pass silently.
func applyEnv(c *Config, environ []string, where map[string]string) error {
	fields := map[string]envField{}
	collectEnvFields(reflect.ValueOf(c).Elem(), "", fields)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, known := fields[name]
		if !known {
			msg := "config: unknown environment variable " + name
			if s := nearest(name, knownNames(fields)); s != "" {
				return fmt.Errorf("%s; did you mean %s?", msg, s)
			}
			return fmt.Errorf("%s; every key's variable is IMGEDGE_ and its path in upper snake case (cache.ttl: IMGEDGE_CACHE_TTL)", msg)
		}
		if err := setFromString(f.value, value, f.key, name); err != nil {
			var placed placedError
			if errors.As(err, &placed) {
				return err
			}
			allowed := err.Error()
			var ve *ValueError
			if errors.As(err, &ve) {
				allowed = ve.Allowed
			}
			return &KeyError{Where: name, Key: f.key, Value: value, Allowed: allowed}
		}
		where[f.key] = name
	}
	return nil
}

type envField struct {
	key   string // dotted YAML path
	value reflect.Value
}

// collectEnvFields maps env names to settable fields: structs are walked, every
// other kind (scalars, lists, maps) is one key.
func collectEnvFields(v reflect.Value, prefix string, out map[string]envField) {
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		fv := v.Field(i)
		_, custom := fv.Addr().Interface().(yaml.Unmarshaler)
		if fv.Kind() == reflect.Struct && !custom {
			collectEnvFields(fv, key, out)
			continue
		}
		out[EnvName(key)] = envField{key: key, value: fv}
	}
}

// EnvName is the environment variable that overrides a dotted YAML key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func knownNames(fields map[string]envField) []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// setFromString sets a field from an environment string. Strings are taken
// verbatim (a YAML parse would turn "yes" or "0x10" into something else); string
// lists are comma separated; everything else is read as a YAML value, so lists of
// routes and preset maps can be given in flow style.
func setFromString(v reflect.Value, s, key, name string) error {
	switch {
	case v.Kind() == reflect.String:
		v.SetString(s)
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String && !strings.HasPrefix(strings.TrimSpace(s), "["):
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		if len(items) == 0 {
			// An empty or blank variable is far more often a template that
			// rendered nothing than a wish to clear the list (signing keys).
			return fmt.Errorf("a comma separated list with at least one item; to clear the list, write [] explicitly")
		}
		v.Set(reflect.ValueOf(items))
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Int && !strings.HasPrefix(strings.TrimSpace(s), "["):
		out := reflect.MakeSlice(v.Type(), 0, 8)
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("comma separated integers, e.g. 320,640,1280")
			}
			out = reflect.Append(out, reflect.ValueOf(n))
		}
		if out.Len() == 0 {
			return fmt.Errorf("comma separated integers, at least one; to clear the list, write [] explicitly")
		}
		v.Set(out)
		return nil
	}
	// Keys inside a flow value (routes, presets) are checked as a file's
	// are: a misspelt key in a route's signing would otherwise leave the
	// route unsigned.
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		return fmt.Errorf("YAML flow syntax, e.g. [{hosts: [img.example.com], url: 'http://10.0.0.5'}] (%s)", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		if err := walkKeys(doc.Content[0], v.Type(), key, map[int]keyAt{}, name); err != nil {
			return err
		}
	}
	fresh := reflect.New(v.Type())
	if err := yaml.Unmarshal([]byte(s), fresh.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return errors.New(describeType(v.Type()))
		}
		return err
	}
	v.Set(fresh.Elem())
	return nil
}

// Keys lists every config key (dotted YAML path) with the environment
// variable that overrides it, sorted by key.
func Keys() [][2]string {
	fields := map[string]envField{}
	var c Config
	collectEnvFields(reflect.ValueOf(&c).Elem(), "", fields)
	out := make([][2]string, 0, len(fields))
	for name, f := range fields {
		out = append(out, [2]string{f.key, name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
