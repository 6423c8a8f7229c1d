// Package fleet is the protocol of edges sharing one Redis (or Redis
// Cluster): the keyspace, the entry encoding, fill leases, the purge log
// with its epochs and pruning, and the announcements of live nodes. It is
// the one place that knows a key's name or a value's bytes.
//
// Keys (all under "imgedge:"):
//
//	imgedge:v:<key>, imgedge:o:<key>  entries (variants, originals), format FormatVersion
//	imgedge:lock:<entry key>          a fill lease: a random token, expiring at an absolute time
//	imgedge:purge:seq                 the purge log's sequence (INCR)
//	imgedge:purge:rules               sorted set of rules "seq kind path" scored by seq
//	imgedge:purge:at                  sorted set of seq scored by the unix ms it was logged (pruning)
//	imgedge:purge:epoch               hash: token (random: gone when Redis lost its data), floor (unix ms: entries the origin answered for before it are revalidated)
//	imgedge:purge:pruned              the last sequence pruned
//	imgedge:purge:retention           the longest retention (ms) any node announced: what every node prunes by
//	imgedge:fleet:nodes               hash node -> "format=N at=ms": who is alive and what it reads
//
// Rolling deploys are expand and contract: a release reads the formats of
// the release before it and writes the newest format every announced node
// reads; keys, leases and the purge log's member format are shared by every
// release that shares the entry format. Format 2 is described at
// entryMagic.
package fleet
