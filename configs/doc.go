// Package configs holds imgedge's configuration: the typed Config, the embedded
// default.yaml it starts from, a YAML file laid over it, IMGEDGE_* environment
// overrides for every key, and validation that names the key, the bad value and
// what is allowed.
package configs
