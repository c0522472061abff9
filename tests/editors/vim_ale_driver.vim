" Drives Vim + ALE (tests/editors/test_vim_ale.py) through one code action, as a user would:
" docs/editors/vim-ale.vim is the vimrc; `:'<,'>ALECodeAction` on the first two lines, the
" action $OSS_ACTION picked from ALE's numbered menu. Writes what happened to $OSS_RESULT.
runtime autoload/ale/util.vim
let s:result = {'shown': [], 'menu': ''}

" what ALE would echo (or open in a preview window when long), observed
function! ale#util#ShowMessage(string, ...) abort
  call add(s:result.shown, a:string)
endfunction

" ALE's menu: "Type number and <Enter>", answered with the action's number
function! ale#util#Input(message, value, ...) abort
  let s:result.menu = a:message
  let l:found = matchlist(a:message, '\(\d\+\)) ' . $OSS_ACTION . "\n")
  return empty(l:found) ? '' : l:found[1]
endfunction

function! s:Wait(seconds, Predicate) abort
  let l:waited = 0
  while !a:Predicate() && l:waited < a:seconds * 10
    sleep 100m
    let l:waited += 1
  endwhile
  return a:Predicate()
endfunction

function! s:Run(...) abort
  try
    let s:result.before = getline(1, '$')
    call setpos("'<", [0, 1, 1, 0])
    call setpos("'>", [0, 2, len(getline(2)), 0])
    '<,'>ALECodeAction
    let s:result.listed = s:Wait(str2nr($OSS_WAIT_LIST ?? '60'), {-> !empty(s:result.menu)})
    if !s:result.listed
      let s:result.ale_info = execute('ALEInfo')
    endif
    " the Error the server sends, once the model has answered
    let s:result.told = s:Wait(100, {-> !empty(s:result.shown)})
    let s:result.after = getline(1, '$')
  catch
    let s:result.error = v:exception . ' ' . v:throwpoint
  endtry
  call writefile([json_encode(s:result)], $OSS_RESULT)
  qa!
endfunction

call timer_start(200, function('s:Run'))
