-- POST /api/v1/opportunities/<id>/accept, each id once: thread t of n takes
-- ids t, t+n, t+2n, … from the file given after `--` (offers to this partner).
local counter = 1
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
local ids = {}
local step
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  step = tonumber(args[2])
  counter = tid + 1 + (tonumber(args[3]) or 0)
end
function request()
  local id = ids[counter]
  counter = counter + step
  return wrk.format("POST", "/api/v1/opportunities/" .. id .. "/accept")
end
