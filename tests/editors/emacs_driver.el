;;; emacs_driver.el --- drive eglot or lsp-mode through one code action, as a user would  -*- lexical-binding: t -*-
;; Loaded after the README's configuration (tests/editors/test_emacs.py). Emacs in batch mode has
;; no command loop, so what the loop would do is done here: run `post-command-hook' once (where
;; eglot-ensure connects), and while waiting let process output in and run the idle timers (the
;; user is idle: lsp-deferred connects from one).
;; Writes what happened to $OSS_RESULT as JSON.

(require 'json)
(require 'cl-lib)

(defvar oss-client (intern (getenv "OSS_CLIENT")))     ; eglot | lsp-mode
(defvar oss-result (list))
(defvar oss-titles nil)
(defvar oss-prompts nil)

(defun oss-put (key value) (push (cons key value) oss-result))

(defun oss-idle ()
  "Run the idle timers that are due, as the command loop does when the user pauses."
  (dolist (timer (copy-sequence timer-idle-list))
    (when (memq timer timer-idle-list)
      (timer-event-handler timer))))

(defun oss-wait (seconds predicate)
  "Let process output in until PREDICATE holds or SECONDS pass."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05)
      (oss-idle))
    (funcall predicate)))

(defun oss-messages ()
  (with-current-buffer (get-buffer-create "*Messages*") (buffer-string)))

(defun oss-finish ()
  (oss-put 'messages (oss-messages))
  ;; the client's logs (eglot's events, lsp-mode's io log, the server's stderr), for failures
  (oss-put 'logs (mapconcat (lambda (b)
                              (when (string-match-p "events\\|stderr\\|lsp-log\\|lsp-io" (buffer-name b))
                                (with-current-buffer b
                                  (format "--- %s\n%s" (buffer-name b)
                                          (let ((text (buffer-string)))
                                            (substring text (max 0 (- (length text) 6000))))))))
                            (buffer-list) "\n"))
  (with-temp-file (getenv "OSS_RESULT") (insert (json-encode oss-result)))
  (kill-emacs 0))

;; the menu of actions: record the titles offered, pick the one the test names
(defun oss-pick (_prompt collection &rest _)
  (let ((titles (if (functionp collection)
                    (all-completions "" collection)
                  (mapcar (lambda (c) (if (consp c) (car c) c)) collection))))
    (setq oss-titles titles)
    (getenv "OSS_ACTION")))

(defun oss-connected-p ()
  (pcase oss-client
    ('eglot (let ((server (eglot-current-server))) (and server (eglot--capabilities server) t)))
    ('lsp-mode (and (bound-and-true-p lsp-mode)
                    (cl-some (lambda (w) (eq (lsp--workspace-status w) 'initialized))
                             (lsp-workspaces))))))

(defun oss-run ()
  (let* ((file (getenv "OSS_FILE"))
         (small `(:ossSidecar (:chatMaxTokens ,(string-to-number (getenv "OSS_CHAT_MAX_TOKENS"))
                                :temperature 0))))
    ;; small answers from the tiny test model (a user setting)
    (when (eq oss-client 'eglot) (setq-default eglot-workspace-configuration small))
    (when (eq oss-client 'lsp-mode)
      (require 'lsp-mode)
      (lsp-workspace-folders-add (file-name-directory file)))  ; what the "import root?" prompt does
    (find-file file)
    (run-hooks 'post-command-hook)
    (oss-put 'attached (oss-wait 60 #'oss-connected-p))
    (when (eq oss-client 'lsp-mode)
      (lsp-notify "workspace/didChangeConfiguration" `(:settings ,small)))
    (let ((before (buffer-string)))
      (oss-put 'before before)
      ;; select two lines ($OSS_SELECT_FROM, the first by default) and open the action menu
      (goto-char (point-min))
      (forward-line (1- (string-to-number (or (getenv "OSS_SELECT_FROM") "1"))))
      (set-mark (point))
      (forward-line 2)
      (activate-mark)
      ;; invoked from the keyboard (M-x), so menus are read with `completing-read'
      (cl-letf (((symbol-function 'completing-read) #'oss-pick)
                ;; eglot asks before it applies a server's edit: the user says yes
                ((symbol-function 'y-or-n-p) (lambda (prompt) (push prompt oss-prompts) t))
                (last-nonmenu-event ?\C-m))
        (pcase oss-client
          ('eglot (eglot-code-actions (region-beginning) (region-end) nil t))
          ('lsp-mode (call-interactively #'lsp-execute-code-action)))
        (oss-put 'titles (vconcat oss-titles))
        (oss-put 'edited (oss-wait 100 (lambda () (not (equal (buffer-string) before)))))
        ;; a message the server sends after the edit (the test names it)
        (let ((expected (getenv "OSS_EXPECT_MESSAGE")))
          (when expected
            (oss-wait 30 (lambda () (string-match-p (regexp-quote expected) (oss-messages)))))))
      (oss-put 'prompts (vconcat oss-prompts))
      (oss-put 'after (buffer-string)))))

(defun oss-capf-complete ()
  "Take the first candidate of the completion-at-point functions as company or corfu do after
their idle delay: replace the typed prefix with it, then run the client's exit function."
  (let* ((data (run-hook-wrapped 'completion-at-point-functions
                                 (lambda (f) (and (functionp f) (let ((r (funcall f))) (and (consp r) r))))))
         (start (nth 0 data)) (end (nth 1 data)) (table (nth 2 data)) (props (nthcdr 3 data))
         (candidates (and data (all-completions (buffer-substring-no-properties start end) table))))
    (oss-put 'candidates (vconcat (mapcar #'substring-no-properties candidates)))
    (when candidates
      (let ((choice (car candidates)))
        (delete-region start end)
        (goto-char start)
        (insert choice)
        (let ((exit (plist-get props :exit-function)))
          (when exit (funcall exit choice 'finished)))
        t))))

(defun oss-complete-fresh-line ()
  "Enter at the end of the file's last line, then the first completion at point: the suggestion
goes on the new line, with no empty line first."
  (let ((file (getenv "OSS_FILE"))
        (small '(:ossSidecar (:maxTokens 8 :debounceMs 0 :temperature 0))))
    (when (eq oss-client 'eglot) (setq-default eglot-workspace-configuration small))
    (when (eq oss-client 'lsp-mode)
      (require 'lsp-mode)
      (lsp-workspace-folders-add (file-name-directory file)))
    (find-file file)
    (run-hooks 'post-command-hook)
    (oss-put 'attached (oss-wait 60 #'oss-connected-p))
    (when (eq oss-client 'lsp-mode)
      (lsp-notify "workspace/didChangeConfiguration" `(:settings ,small)))
    (oss-put 'before (buffer-string))
    (goto-char (point-max))
    (skip-chars-backward "\n")
    (newline-and-indent)
    (oss-put 'completed (oss-capf-complete))
    (oss-put 'after (buffer-string))))

(condition-case err
    (if (getenv "OSS_COMPLETE") (oss-complete-fresh-line) (oss-run))
  (error (oss-put 'error (format "%S" err))))
(oss-finish)
