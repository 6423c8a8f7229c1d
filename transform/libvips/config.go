package libvips

import "imgedge/configs"

// FromConfig is the transformer's part of cfg: what main hands New at start
// and Update on a reload. It lives here, not in edge, so that edge never
// imports this cgo package.
func FromConfig(cfg *configs.Config) Config {
	q, l, fq := cfg.Transform.Quality, cfg.Limits, cfg.Flags.Qualities.Quality
	return Config{
		Concurrency:           cfg.Transform.Concurrency,
		Queue:                 cfg.Transform.Queue,
		QueueTimeout:          cfg.Transform.QueueTimeout.D(),
		Timeout:               cfg.Transform.Timeout.D(),
		Quality:               Quality{JPEG: q.JPEG, WebP: q.WebP, AVIF: q.AVIF, JXL: q.JXL},
		FlagQuality:           Quality{JPEG: fq.JPEG, WebP: fq.WebP, AVIF: fq.AVIF, JXL: fq.JXL},
		MaxSourcePixels:       l.MaxSourcePixels,
		MaxDimension:          l.MaxDimension,
		AVIFMaxPixels:         cfg.Transform.AVIFMaxPixels,
		WebPEffort:            cfg.Transform.WebPEffort,
		AVIFEffort:            cfg.Transform.AVIFEffort,
		MaxOutputPixels:       l.MaxOutputPixels,
		MaxOutputFramesPixels: l.MaxOutputFramesPixels,
		MaxUpscale:            l.MaxUpscale,
		MaxAVIFPixels:         l.MaxAVIFPixels,
		MaxJXLPixels:          l.MaxJXLPixels,
		MemoryBudget:          int64(cfg.Transform.MemoryBudget),
	}
}
