-- Drives Neovim >= 0.10 (tests/editors/test_neovim_011.py) with docs/editors/neovim-0.10.lua as
-- the init file: a completion after Enter accepted with the menu's accept (<C-y>), then
-- "AI: Explain" answered slower than resolveTimeoutMs. Writes what happened to $OSS_RESULT.
local result = { errors = {}, messages = {} }

local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function() assert(coroutine.resume(co)) end, ms)
  coroutine.yield()
end

local function wait_until(timeout_ms, predicate)
  local waited = 0
  while not predicate() do
    if waited >= timeout_ms then return false end
    sleep(50)
    waited = waited + 50
  end
  return true
end

local function lines() return vim.api.nvim_buf_get_lines(0, 0, -1, false) end

local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(result.messages, msg)
  return notify(msg, level, opts)
end

result.done = {}
vim.api.nvim_create_autocmd('CompleteDone', { callback = function()
  table.insert(result.done, { reason = vim.v.event.reason or vim.NIL, word = vim.v.completed_item.word or vim.NIL,
    has_item = vim.tbl_get(vim.v.completed_item, 'user_data', 'nvim', 'lsp', 'completion_item') ~= nil })
end })

local function main()
  local client
  result.attached = wait_until(30000, function()
    client = vim.lsp.get_clients({ bufnr = 0, name = 'oss_sidecar' })[1]
    return client ~= nil and client.initialized == true
  end)
  if not result.attached then return end
  result.version = tostring(vim.version())
  client:notify('workspace/didChangeConfiguration', {
    settings = { ossSidecar = { maxTokens = 8, chatMaxTokens = 24, temperature = 0, debounceMs = 0,
                                completionTimeoutMs = 90000, resolveTimeoutMs = 1 } },
  })
  local code = vim.api.nvim_get_current_buf()
  -- a UI (the test attaches a terminal one): without one no menu is on screen, and <C-y> is
  -- then also "insert the character above the cursor"
  result.ui = wait_until(30000, function() return #vim.api.nvim_list_uis() > 0 end)

  -- 1. Enter at the end of the last (indented) line, ask, accept the item
  local row = #lines()
  vim.api.nvim_win_set_cursor(0, { row, #lines()[row] })
  result.before = lines()
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('A<CR><C-x><C-o>', true, false, true), 'n', false)
  result.shown = wait_until(60000, function()
    return vim.fn.mode() == 'i' and #vim.fn.complete_info({ 'items' }).items > 0
  end)
  if result.shown then
    local item = vim.fn.complete_info({ 'items' }).items[1]
    result.word = item.word
    result.new_text = vim.tbl_get(item, 'user_data', 'nvim', 'lsp', 'completion_item', 'textEdit', 'newText')
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<C-y>', true, false, true), 'n', false)
    wait_until(5000, function() return #lines() > #result.before and lines()[row + 1]:match('%S') end)
  end
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
  wait_until(5000, function() return vim.fn.mode() == 'n' end)
  result.after = lines()

  -- 2. "AI: Explain" on the first two lines, slower than resolveTimeoutMs (1 ms): the answer
  --    opens beside the code, which stays in the current window
  vim.lsp.buf.code_action({
    range = { start = { 1, 0 }, ['end'] = { 2, 0 } },
    filter = function(action) return action.title == 'AI: Explain' end,
    apply = true,
  })
  result.explained = wait_until(100000, function()
    for _, win in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win)):match('%.md$') then return true end
    end
    return false
  end)
  result.windows = #vim.api.nvim_list_wins()
  result.current_is_code = vim.api.nvim_win_get_buf(0) == code
end

coroutine.wrap(function()
  local ok, err = pcall(main)
  if not ok then table.insert(result.errors, tostring(err)) end
  local file = io.open(os.getenv('OSS_RESULT'), 'w')
  file:write(vim.json.encode(result))
  file:close()
  vim.cmd('qa!')
end)()
