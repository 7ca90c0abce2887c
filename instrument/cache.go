package instrument

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Cache counts lookups of one logical application cache in
// app.cache.requests{cache.name, cache.result=hit|miss}.
type Cache struct {
	counter metric.Int64Counter
	hit     []metric.AddOption
	miss    []metric.AddOption
}

// Hit records a cache hit.
func (c *Cache) Hit(ctx context.Context) { c.counter.Add(ctx, 1, c.hit...) }

// Miss records a cache miss.
func (c *Cache) Miss(ctx context.Context) { c.counter.Add(ctx, 1, c.miss...) }

// cacheSet bounds cache names: the first MaxCaches distinct names get their
// own cache_name value, later ones share "other".
type cacheSet struct {
	mu     sync.Mutex
	byName map[string]*Cache
	other  *Cache
	i      *Instrumentation
}

func (s *cacheSet) init(i *Instrumentation) {
	s.i = i
	s.byName = map[string]*Cache{}
	s.other = newCache(i, otherValue)
}

func newCache(i *Instrumentation, name string) *Cache {
	n := attribute.String("cache.name", name)
	return &Cache{
		counter: i.cacheRequests,
		hit:     []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(n, attribute.String("cache.result", "hit")))},
		miss:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(n, attribute.String("cache.result", "miss")))},
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
	c := newCache(i, name)
	s.byName[name] = c
	return c
}
