package instrument

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Cache counts lookups of one logical application cache in
// app.cache.requests{cache.name, cache.result=hit|miss}. The counts are
// atomic counters read at collection: a lookup costs one atomic add.
type Cache struct {
	hits, misses      atomic.Int64
	hitOpts, missOpts metric.ObserveOption
}

// Hit records a cache hit.
func (c *Cache) Hit(context.Context) { c.hits.Add(1) }

// Miss records a cache miss.
func (c *Cache) Miss(context.Context) { c.misses.Add(1) }

// observe reports the counts; a result has a series from its first lookup
// on, as with a synchronous counter.
func (c *Cache) observe(o metric.Observer, counter metric.Int64ObservableCounter) {
	if n := c.hits.Load(); n > 0 {
		o.ObserveInt64(counter, n, c.hitOpts)
	}
	if n := c.misses.Load(); n > 0 {
		o.ObserveInt64(counter, n, c.missOpts)
	}
}

// cacheSet bounds cache names: the first MaxCaches distinct names get their
// own cache_name value, later ones share "other".
type cacheSet struct {
	mu     sync.Mutex
	byName map[string]*Cache
	all    []*Cache // byName's values and other, for the callback
	other  *Cache
}

func (s *cacheSet) init() {
	s.byName = map[string]*Cache{}
	s.other = newCache(otherValue)
	s.all = []*Cache{s.other}
}

func newCache(name string) *Cache {
	n := attribute.String("cache.name", name)
	return &Cache{
		hitOpts:  metric.WithAttributeSet(attribute.NewSet(n, attribute.String("cache.result", "hit"))),
		missOpts: metric.WithAttributeSet(attribute.NewSet(n, attribute.String("cache.result", "miss"))),
	}
}

// observe reports every cache's counts.
func (s *cacheSet) observe(o metric.Observer, counter metric.Int64ObservableCounter) {
	s.mu.Lock()
	all := s.all
	s.mu.Unlock()
	for _, c := range all {
		c.observe(o, counter)
	}
}

// Cache returns the counter pair of the named cache; calling it again with
// the same name returns the same *Cache. Get it once at start-up, not per
// request. Past MaxCaches names, further names share "other".
func (i *Instrumentation) Cache(name string) *Cache {
	s := &i.caches
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.byName[name]; ok {
		return c
	}
	if len(s.byName) >= MaxCaches || name == "" {
		return s.other
	}
	c := newCache(name)
	s.byName[name] = c
	s.all = append(s.all[:len(s.all):len(s.all)], c)
	return c
}
