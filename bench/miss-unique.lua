-- Every request a new variant of the same cost: a 300x225 crop of the
-- 1600x1200 JPEG at its own aspect (a no-op crop), keyed by a unique focal point.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local counter = 0
function request()
  counter = counter + 1
  local path = string.format("/photo-1600x1200-q85.jpg?w=300&h=225&fit=crop&crop=focalpoint&fm=webp&q=80&fp-x=%.4f&fp-y=%.4f",
    (counter % 10000) / 10000, (id * 1000 + math.floor(counter / 10000)) / 10000)
  return wrk.format("GET", path)
end
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
