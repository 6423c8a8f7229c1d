package edge

import (
	"imgedge/configs"
	"imgedge/transform/libvips"
)

// TransformerConfig is the libvips transformer's part of cfg.
func TransformerConfig(cfg *configs.Config) libvips.Config {
	q, l, fq := cfg.Transform.Quality, cfg.Limits, cfg.Flags.Qualities.Quality
	return libvips.Config{
		Concurrency:           cfg.Transform.Concurrency,
		Queue:                 cfg.Transform.Queue,
		QueueTimeout:          cfg.Transform.QueueTimeout.D(),
		Timeout:               cfg.Transform.Timeout.D(),
		Quality:               libvips.Quality{JPEG: q.JPEG, WebP: q.WebP, AVIF: q.AVIF, JXL: q.JXL},
		FlagQuality:           libvips.Quality{JPEG: fq.JPEG, WebP: fq.WebP, AVIF: fq.AVIF, JXL: fq.JXL},
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
