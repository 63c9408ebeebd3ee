-- GET /api/v1/opportunities/<random id from the file given after `--`>.
local ids = {}
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(20261121 + (tonumber(args[2]) or 0))
end
function request()
  return wrk.format("GET", "/api/v1/opportunities/" .. ids[math.random(#ids)])
end
