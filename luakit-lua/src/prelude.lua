-- luakit's sandbox, run once before the script (chunk name "=luakit").
-- It replaces the globals a build script must not have by stubs that say
-- so, and wraps those that need it. The Rust side passes in the originals
-- and its helpers; nothing here is reachable from the script except
-- through the globals set below.
local rawpcall, rawxpcall, rawload, rawsetmetatable, rawgetmetatable,
      errmsg, is_fatal, write_stderr, module_path, module_load, raise, bk, locate = ...
local error, type, tostring, select, rawget, setmetatable_ = error, type, tostring, select, rawget, rawsetmetatable
local concat = table.concat
local resume, close = coroutine.resume, coroutine.close

local function denied(name)
  return function()
    error(name .. " is not available in build scripts (sandboxed)", 2)
  end
end

local function stub_library(libname)
  return setmetatable_({}, {
    __index = function(_, key)
      return denied(libname .. "." .. tostring(key))
    end,
    __newindex = function(_, key)
      error(libname .. "." .. tostring(key) .. " is not available in build scripts (sandboxed)", 2)
    end,
    __metatable = false,
  })
end

-- Errors caught by a script are strings (bk errors included) that name
-- the script's file and line (locate runs where the error is raised); the
-- time and memory limits cannot be caught.
local function fix(ok, ...)
  if ok then
    return true, ...
  end
  return false, errmsg((...))
end

pcall = function(f, ...)
  return fix(rawxpcall(f, locate, ...))
end

-- The script's handler gets the located message. It runs once the stack is
-- unwound (a script has no debug library to look at the stack with).
local function handled(handler, ok, ...)
  if ok then
    return true, ...
  end
  -- errmsg raises the limits again.
  local hok, result = rawpcall(handler, errmsg((...)))
  if hok then
    return false, result
  end
  return fix(false, result)
end

xpcall = function(f, handler, ...)
  return handled(handler, rawxpcall(f, locate, ...))
end

coroutine.resume = function(co, ...)
  return fix(resume(co, ...))
end

coroutine.close = function(co)
  return fix(close(co))
end

-- A coroutine's body runs under locate too (resume has no message handler
-- of its own), so that an error inside it names its line.
local create, wrap = coroutine.create, coroutine.wrap
local function rethrow(ok, ...)
  if ok then
    return ...
  end
  error((...), 0)
end
local function located_body(f)
  return function(...)
    return rethrow(rawxpcall(f, locate, ...))
  end
end
coroutine.create = function(f)
  if type(f) ~= "function" then
    return create(f)
  end
  return create(located_body(f))
end
coroutine.wrap = function(f)
  if type(f) ~= "function" then
    return wrap(f)
  end
  return wrap(located_body(f))
end


-- Text chunks only. Asking for a binary chunk (mode "b"), or handing over
-- one (a string, or a reader's first piece, starting with ESC), raises an
-- error at the script's line; other failures are load's usual nil, message.
local binary = "binary chunks are not available in build scripts (sandboxed)"
load = function(...)
  local n = select("#", ...)
  local chunk, name, mode, env = ...
  if mode == "b" then
    raise("load", binary)
  end
  if type(chunk) == "string" then
    if chunk:byte(1) == 27 then
      raise("load", binary)
    end
  elseif type(chunk) == "function" then
    local reader, first, started = chunk, nil, false
    local ok, piece = rawpcall(reader)
    if not ok then
      if is_fatal(piece) then
        error(piece, 0)
      end
      return nil, errmsg(piece)
    end
    if type(piece) == "string" and piece:byte(1) == 27 then
      raise("load", binary)
    end
    first = piece
    chunk = function()
      if not started then
        started = true
        return first
      end
      return reader()
    end
  end
  if n >= 4 then
    return rawload(chunk, name, "t", env)
  end
  return rawload(chunk, name, "t")
end

assert = function(v, msg, ...)
  if v then
    return v, msg, ...
  end
  if msg == nil then
    msg = "assertion failed!"
  end
  if type(msg) == "string" then
    error(msg, 2)
  end
  error(msg, 0)
end

print = function(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  write_stderr(concat(parts, "\t") .. "\n")
end

string.dump = denied("string.dump")

-- pairs in a stable order. Lua's own order follows a hash seed that changes
-- from process to process, and a build must give the same bytes every run.
-- Order: numbers ascending, then strings (byte order), then false, true;
-- other keys (tables, functions, userdata) after those, as next finds them.
-- A __pairs metamethod is honoured.
local next_, sort, rawpairs = next, table.sort, pairs
local rank = { number = 1, string = 2, boolean = 3 }
local function key_before(a, b)
  local ra, rb = rank[type(a)] or 4, rank[type(b)] or 4
  if ra ~= rb then
    return ra < rb
  end
  if ra == 1 or ra == 2 then
    return a < b
  end
  if ra == 3 then
    return (not a) and b
  end
  return false
end
pairs = function(t)
  if type(t) ~= "table" then
    local mt = rawgetmetatable(t)
    if type(mt) == "table" and rawget(mt, "__pairs") ~= nil then
      return rawget(mt, "__pairs")(t)
    end
    return rawpairs(t)
  end
  local mt = rawgetmetatable(t)
  if mt == false then
    -- A protected metatable (bk's): the original pairs still sees its __pairs.
    local f, s, c = rawpairs(t)
    if f ~= next_ then
      return f, s, c
    end
  elseif type(mt) == "table" and rawget(mt, "__pairs") ~= nil then
    return rawget(mt, "__pairs")(t)
  end
  local keys, n = {}, 0
  for k in next_, t do
    n = n + 1
    keys[n] = k
  end
  sort(keys, key_before)
  -- As with next, fields may be cleared during the traversal: a key whose
  -- value is nil when it is reached is skipped. Keys added during the
  -- traversal are not visited (Lua leaves that undefined).
  local i = 0
  return function()
    while true do
      i = i + 1
      local k = keys[i]
      if k == nil then
        return nil
      end
      local v = rawget(t, k)
      if v ~= nil then
        return k, v
      end
    end
  end, t, nil
end

-- setmetatable, string.rep, table.move and math.randomseed are replaced
-- in Rust (builtins.rs), so that no frame of this file stands between a
-- script and them.
rawgetmetatable("").__metatable = false

os = stub_library("os")
io = stub_library("io")
debug = stub_library("debug")
loadfile = denied("loadfile")
dofile = denied("dofile")
collectgarbage = denied("collectgarbage")
warn = nil

-- require: modules next to the main script, each loaded once.
local loaded = {}
local loading = {}
local chain = {}

require = function(name)
  local path = module_path(name)
  local value = loaded[path]
  if value ~= nil then
    return value
  end
  if loading[path] then
    raise("require", "circular require: " .. concat(chain, " -> ") .. " -> " .. path)
  end
  local fn = module_load(path)
  loading[path] = true
  chain[#chain + 1] = path
  local result = { rawxpcall(fn, locate, name, path) }
  chain[#chain] = nil
  loading[path] = nil
  if not result[1] then
    error(result[2], 0)
  end
  value = result[2]
  if value == nil then
    value = true
  end
  loaded[path] = value
  return value
end

package = setmetatable_({ loaded = loaded }, {
  __index = function(_, key)
    return denied("package." .. tostring(key))
  end,
  __metatable = false,
})

_G.bk = bk
