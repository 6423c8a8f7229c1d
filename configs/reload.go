package configs

import (
	"errors"
	"reflect"
	"sort"
)

// RestartOnly lists the keys (dotted YAML paths) tagged reload:"restart"
// whose values differ between running and next: what a reload to next
// leaves unapplied until the edge restarts.
func RestartOnly(running, next *Config) []string {
	var keys []string
	restartDiff(reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem(), "", false, &keys)
	sort.Strings(keys)
	return keys
}

func restartDiff(a, b reflect.Value, prefix string, restart bool, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if prefix != "" {
			key = prefix + "." + key
		}
		fixed := restart || f.Tag.Get("reload") == "restart"
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case fa.Kind() == reflect.Struct:
			restartDiff(fa, fb, key, fixed, out)
		case fixed && !reflect.DeepEqual(fa.Interface(), fb.Interface()):
			*out = append(*out, key)
		}
	}
}

// RestartKeys lists the keys tagged reload:"restart", the one declaration of
// what a reload leaves for a restart: a whole section as "section.*", else
// the key. The README's list is checked against it.
func RestartKeys() []string {
	var keys []string
	restartKeys(reflect.TypeOf(Config{}), "", &keys)
	sort.Strings(keys)
	return keys
}

func restartKeys(t reflect.Type, prefix string, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if prefix != "" {
			key = prefix + "." + key
		}
		switch {
		case f.Tag.Get("reload") == "restart" && f.Type.Kind() == reflect.Struct:
			*out = append(*out, key+".*")
		case f.Tag.Get("reload") == "restart":
			*out = append(*out, key)
		case f.Type.Kind() == reflect.Struct:
			restartKeys(f.Type, key, out)
		}
	}
}

// CheckReload refuses a reload that would silently turn URL signing off:
// once the running config signs URLs, the next one must have keys too, or
// say signing.required: false.
func CheckReload(running, next *Config) error {
	if len(running.Signing.Keys) > 0 && len(next.Signing.Keys) == 0 &&
		(next.Signing.Required == nil || *next.Signing.Required) {
		return errors.New("config: signing.keys: the new config has no keys while the running one signs URLs; " +
			"add a key, or set signing.required: false to serve unsigned URLs")
	}
	return nil
}
