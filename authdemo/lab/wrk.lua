-- authdemo bench: send the credentials header, count every answer other than the expected status as an error
-- (a logged-in request redirected to /login is a 302, which wrk alone would count as a success).
-- Arguments after "--": one header line such as "Cookie: authdemo_session=..." ("" for none), the expected status.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local name, value = (args[1] or ""):match("^([^:]+):%s*(.*)$")
  if name ~= nil then
    wrk.headers[name] = value
  end
  expected = tonumber(args[2] or "200")
  unexpected = 0
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local wrong = 0
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("unexpected")
  end
  local errors = summary.errors
  io.write(string.format(
    'AUTHDEMO-RESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, "unexpected_status": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.connect + errors.read + errors.write + errors.timeout, wrong,
    latency:percentile(50), latency:percentile(99)))
end
