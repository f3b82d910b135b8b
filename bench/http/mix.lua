-- wrk script: a weighted mix of the zufang read API, with a share of authenticated requests.
-- Usage (bench/http/load.sh does this): wrk -s mix.lua URL -- CONFIG.lua
-- CONFIG.lua (written by benchlib.py discover) holds real ids sampled from the target, the
-- weights, the auth share and the path of the token file. Nothing secret is passed in argv:
-- the JWT is read from the file here.
--
-- Output: "PROGRESS <bucket> <thread> <responses> <non-2xx>" once per report interval per
-- thread (aggregated by load.sh), and one "WRK_JSON {...}" summary line at the end.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local cfg, token, kinds, total_weight
-- Globals on purpose: done() reads them per thread with thread:get(), which sees globals only.
nreq, nauth, s2, s3, s4, s5 = 0, 0, 0, 0, 0, 0
-- Responses per X-Upstream value (the edge names the replica that answered): shows how the
-- proxies spread the load, and that a failover moved it. Empty when hitting a replica directly.
upstreams = {}
local bucket, bucket_resp, bucket_bad = nil, 0, 0

local function pick(list)
  return list[math.random(#list)]
end

function init(args)
  cfg = dofile(args[1])
  math.randomseed(os.time() * 1000 + (tid or 0))
  if cfg.token_file ~= "" then
    local f = assert(io.open(cfg.token_file, "r"), "cannot read token file")
    token = f:read("*l")
    f:close()
  end
  kinds, total_weight = {}, 0
  for name, w in pairs(cfg.weights) do
    if w > 0 then
      total_weight = total_weight + w
      table.insert(kinds, { name = name, upto = total_weight })
    end
  end
  table.sort(kinds, function(a, b) return a.upto < b.upto end)
end

local function choose(authenticated)
  while true do
    local r = math.random() * total_weight
    for _, k in ipairs(kinds) do
      if r <= k.upto then
        -- /api/users/me/ only makes sense with a token; redraw otherwise.
        if k.name ~= "me" or authenticated then return k.name end
        break
      end
    end
    if #kinds == 1 and kinds[1].name == "me" and not authenticated then return "districts" end
  end
end

local function price_range()
  local lo = math.random(cfg.price_lo, cfg.price_hi)
  return lo, math.random(lo, cfg.price_hi)
end

local paths = {
  districts = function() return "/api/districts/" end,
  district = function() return "/api/districts/" .. pick(cfg.districts) .. "/" end,
  hot_cities = function() return "/api/hot-cities/" end,
  estate = function() return "/api/estates/" .. pick(cfg.estates) .. "/" end,
  house = function() return "/api/houses/" .. pick(cfg.houses) .. "/" end,
  me = function() return "/api/users/me/" end,
  estates = function()
    local q = { "size=10", "page=" .. math.random(1, 2) }
    local r = math.random(3)
    if r == 1 then table.insert(q, "dist=" .. pick(cfg.estate_dists)) end
    if r == 2 then
      local lo = math.random(cfg.hot_lo, cfg.hot_hi)
      table.insert(q, "minhot=" .. lo)
      table.insert(q, "maxhot=" .. math.random(lo, cfg.hot_hi))
    end
    table.insert(q, "ordering=" .. pick({ "-hot", "name", "id" }))
    return "/api/estates/?" .. table.concat(q, "&")
  end,
  houses = function()
    local q = { "size=10" }
    local r = math.random(4)
    if r == 1 then table.insert(q, "district=" .. pick(cfg.house_dists)) end
    if r == 2 then table.insert(q, "city=" .. pick(cfg.house_cities)) end
    if r <= 3 then
      local lo, hi = price_range()
      table.insert(q, "minprice=" .. lo)
      table.insert(q, "maxprice=" .. hi)
    end
    table.insert(q, "ordering=" .. pick({ "price", "-price", "-published_at", "area" }))
    return "/api/houses/?" .. table.concat(q, "&")
  end,
}

function request()
  nreq = nreq + 1
  local authenticated = token ~= nil and math.random() < cfg.auth_share
  local headers = { ["Accept"] = "application/json" }
  if authenticated then
    nauth = nauth + 1
    headers["Authorization"] = "Bearer " .. token
  end
  return wrk.format("GET", paths[choose(authenticated)](), headers)
end

function response(status, headers, _)
  local up = headers["X-Upstream"] or headers["x-upstream"]
  if up then upstreams[up] = (upstreams[up] or 0) + 1 end
  if status < 300 then s2 = s2 + 1
  elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1
  else s5 = s5 + 1 end
  if cfg.interval > 0 then
    local b = math.floor(os.time() / cfg.interval)
    if bucket == nil then bucket = b end
    if b ~= bucket then
      io.write(string.format("PROGRESS %d %d %d %d\n", bucket, tid, bucket_resp, bucket_bad))
      io.stdout:flush()
      bucket, bucket_resp, bucket_bad = b, 0, 0
    end
    bucket_resp = bucket_resp + 1
    if status >= 300 then bucket_bad = bucket_bad + 1 end
  end
end

function done(summary, latency, _)
  local t = { req = 0, auth = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0 }
  local ups = {}
  for _, th in ipairs(threads) do
    for addr, n in pairs(th:get("upstreams") or {}) do ups[addr] = (ups[addr] or 0) + n end
    t.req = t.req + (th:get("nreq") or 0)
    t.auth = t.auth + (th:get("nauth") or 0)
    t.s2 = t.s2 + (th:get("s2") or 0)
    t.s3 = t.s3 + (th:get("s3") or 0)
    t.s4 = t.s4 + (th:get("s4") or 0)
    t.s5 = t.s5 + (th:get("s5") or 0)
  end
  local e = summary.errors
  local up_json = {}
  for addr, n in pairs(ups) do
    table.insert(up_json, string.format('"%s":%d', (addr:gsub('[^%w%.:%-%[%], ]', '')), n))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency":{"mean_us":%.1f,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d},' ..
    '"status":{"2xx":%d,"3xx":%d,"4xx":%d,"5xx":%d},"auth_share":%.4f,' ..
    '"upstreams":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    t.s2, t.s3, t.s4, t.s5, t.req > 0 and t.auth / t.req or 0, table.concat(up_json, ",")))
end
