-- wrk request generator of bench-harness's catalog scenario: a different `q`
-- on every request, so no answer or view can be reused. bench-harness
-- prepends the globals `groups` (search-code groups in the catalog),
-- `stride` (wrk's thread count), `offset` (first request number of the run),
-- `path_head` and `path_tail` (the URL around the `q` value), and appends
-- wrk-report.lua.
--
-- Request k (unique across threads: thread t asks offset + t, + stride, …;
-- wrk checks the first thread's request() once before the run, which only
-- skips a number)
-- asks two words of the search code of group k mod groups, the next pair of
-- words on each lap over the groups. Same letters as catalog::code and
-- catalog::catalog_q in bench/src/catalog.rs (MINSTD; every product stays
-- below 2^53, so Lua's doubles are exact).
local M = 2147483647
local CODE_LEN = 16

local function code(group)
  local x = group % (M - 1) + 1
  for _ = 1, 3 do x = (x * 48271) % M end
  local letters = {}
  for p = 1, CODE_LEN do
    x = (x * 48271) % M
    letters[p] = string.char(97 + x % 26)
  end
  return table.concat(letters)
end

local function words(c)
  local w = {}
  for _, len in ipairs({4, 5}) do
    for start = 1, #c - len + 1 do
      w[#w + 1] = c:sub(start, start + len - 1)
    end
  end
  return w
end

local word_pairs = {}
local n_words = (CODE_LEN - 3) + (CODE_LEN - 4)
for a = 1, n_words do
  for b = a + 1, n_words do
    word_pairs[#word_pairs + 1] = { a, b }
  end
end

local next_thread = 0
function setup(thread)
  thread:set("first", next_thread)
  next_thread = next_thread + 1
end

local counter = nil
function request()
  if counter == nil then counter = offset + (first or 0) end
  local k = counter
  counter = counter + stride
  local lap = math.floor(k / groups)
  local pair = word_pairs[lap % #word_pairs + 1]
  local w = words(code(k % groups))
  return wrk.format(nil, path_head .. w[pair[1]] .. "%20" .. w[pair[2]] .. path_tail)
end
