-- etcd v3 gRPC gateway: POST /v3/kv/put {"key": base64, "value": base64} (a plain put:
-- the gateway has no create-only flag outside a transaction). Used when etcd serves no v2 API.
-- The key is 16 random base64 characters (12 random bytes); the value 100 bytes.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for k = 1, 4 do
      if k <= chars then
        local idx = math.floor(n / 2 ^ (6 * (4 - k))) % 64
        out[#out + 1] = B64:sub(idx + 1, idx + 1)
      else
        out[#out + 1] = "="
      end
    end
  end
  return table.concat(out)
end

local encoded = {}
for i = 1, 64 do encoded[i] = base64(common.value()) end

local function random_b64(len)
  local t = {}
  for i = 1, len do
    local j = math.random(1, 64)
    t[i] = B64:sub(j, j)
  end
  return table.concat(t)
end

wrk.method = "POST"
wrk.path = "/v3/kv/put"
wrk.headers["Content-Type"] = "application/json"

function request()
  local body = '{"key":"' .. random_b64(16) .. '","value":"' .. encoded[math.random(1, 64)] .. '"}'
  return wrk.format(nil, nil, nil, body)
end

done = common.done
