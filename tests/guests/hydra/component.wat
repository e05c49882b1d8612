;; hydra: an adapter with many heads, written by hand as a component so that it can have
;; what no Rust adapter has: four linear memories (one per core module) and sixteen core
;; instances. Its services:
;; - `grow` grows each of its four memories by 24 MiB, 96 MiB in all: under a 64 MiB limit
;;   counted per memory every growth succeeds; counted over the component, one fails, and
;;   then the adapter traps (as a Rust adapter aborts when an allocation fails).
;; - `sleep` waits 1.5 s (wasi:clocks) holding its 16 core instances and 4 memories, so
;;   that a few calls at once would empty a small pool for every adapter.
;; Built by tests/build.rs with the `wat` crate.
(component
  ;; The contract's types, as panjereh:adapter@0.1.0 defines them.
  (type $text' (record (field "fa" string) (field "en" string)))
  (export $text "text" (type $text'))
  (type $assurance' (enum "none" "low" "substantial" "high"))
  (export $assurance "assurance" (type $assurance'))
  (type $service-kind' (enum "inquiry" "application"))
  (export $service-kind "service-kind" (type $service-kind'))
  (type $scope' (variant (case "national") (case "province" string)))
  (export $scope "scope" (type $scope'))
  (type $choice' (record (field "id" string) (field "label" $text)))
  (export $choice "choice" (type $choice'))
  (type $field-type' (variant
    (case "text") (case "long-text") (case "number") (case "national-id") (case "legal-id")
    (case "mobile") (case "postal-code") (case "bill-id") (case "payment-id") (case "sheba")
    (case "plate") (case "jalali-date") (case "choice" (list $choice))))
  (export $field-type "field-type" (type $field-type'))
  (type $field' (record (field "name" string) (field "label" $text) (field "help" (option $text))
    (field "kind" $field-type) (field "required" bool)))
  (export $field "field" (type $field'))
  (type $category' (record (field "id" string) (field "label" $text)))
  (export $category "category" (type $category'))
  (type $identity-attribute' (enum "national-id" "mobile"))
  (export $identity-attribute "identity-attribute" (type $identity-attribute'))
  (type $service' (record
    (field "id" string) (field "title" $text) (field "description" $text)
    (field "category" $category) (field "kind" $service-kind) (field "scope" $scope)
    (field "fields" (list $field)) (field "min-assurance" $assurance)
    (field "identity" (list $identity-attribute)) (field "fee-rial" (option u64))
    (field "expected-days" (option u32))))
  (export $service "service" (type $service'))
  (type $agency' (record (field "id" string) (field "name" $text) (field "services" (list $service))))
  (export $agency "agency" (type $agency'))
  (type $citizen' (record (field "subject" string) (field "national-id" (option string))
    (field "mobile" (option string)) (field "assurance" $assurance)))
  (export $citizen "citizen" (type $citizen'))
  (type $call-context' (record (field "request-id" string) (field "service" string)
    (field "citizen" (option $citizen)) (field "locale" string)))
  (export $call-context "call-context" (type $call-context'))
  (type $value' (record (field "name" string) (field "value" string)))
  (export $value "value" (type $value'))
  (type $item' (record (field "label" $text) (field "value" string)))
  (export $item "item" (type $item'))
  (type $table' (record (field "title" $text) (field "columns" (list $text)) (field "rows" (list (list string)))))
  (export $table "table" (type $table'))
  (type $bill' (record (field "bill-id" string) (field "payment-id" string) (field "amount-rial" u64)
    (field "title" $text)))
  (export $bill "bill" (type $bill'))
  (type $document' (record (field "title" $text) (field "items" (list $item)) (field "tables" (list $table))
    (field "bills" (list $bill))))
  (export $document "document" (type $document'))
  (type $status' (enum "submitted" "in-review" "action-required" "approved" "rejected" "completed" "cancelled"))
  (export $status "status" (type $status'))
  (type $receipt' (record (field "agency-reference" string) (field "status" $status) (field "message" $text)))
  (export $receipt "receipt" (type $receipt'))
  (type $status-update' (record (field "agency-reference" string) (field "status" $status) (field "message" $text)))
  (export $status-update "status-update" (type $status-update'))
  (type $field-error' (record (field "field" string) (field "message" $text)))
  (export $field-error "field-error" (type $field-error'))
  (type $adapter-error' (variant (case "invalid-input" (list $field-error)) (case "not-found" $text)
    (case "forbidden" $text) (case "unavailable" $text) (case "other" string)))
  (export $adapter-error "adapter-error" (type $adapter-error'))

  ;; Sleeping: wasi:clocks/monotonic-clock and wasi:io/poll, which the host provides.
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow 0))))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (alias outer 1 $pollable (type $p))
    (export "pollable" (type (eq $p)))
    (export "subscribe-duration" (func (param "when" u64) (result (own 1))))))
  (core func $subscribe (canon lower (func $clock "subscribe-duration")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $drop (canon resource.drop $pollable))

  ;; A memory of its own, and a way to grow it.
  (core module $head
    (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
  ;; Nothing at all, instantiated for the count.
  (core module $empty)

  (core module $main
    (import "host" "subscribe" (func $subscribe (param i64) (result i32)))
    (import "host" "block" (func $block (param i32)))
    (import "host" "drop" (func $drop (param i32)))
    (import "head1" "grow" (func $grow1 (param i32) (result i32)))
    (import "head2" "grow" (func $grow2 (param i32) (result i32)))
    (import "head3" "grow" (func $grow3 (param i32) (result i32)))
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 8192))

    (data (i32.const 1024) "hydra")
    (data (i32.const 1040) "grow")
    (data (i32.const 1048) "sleep")
    (data (i32.const 1056) "tests")
    (data (i32.const 1072) "Grows all four of its memories.")
    (data (i32.const 1120) "Sleeps holding many pool slots.")
    (data (i32.const 1168) "ok")

    ;; A bump allocator: nothing is freed, the store is dropped after the call.
    (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                 (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.eq (i32.const -1)
                (memory.grow (i32.add (i32.const 1)
                  (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                             (i32.const 65536)))))
            (then unreachable))))
      (local.get $ptr))

    ;; Stores a string (pointer, length) at `at`.
    (func $str (param $at i32) (param $ptr i32) (param $len i32)
      (i32.store (local.get $at) (local.get $ptr))
      (i32.store offset=4 (local.get $at) (local.get $len)))

    ;; One inquiry service record (128 bytes) at `at`, every other field zero.
    (func $service (param $at i32) (param $id i32) (param $id_len i32) (param $about i32)
      (call $str (local.get $at) (local.get $id) (local.get $id_len))
      (call $str (i32.add (local.get $at) (i32.const 8)) (local.get $id) (local.get $id_len))
      (call $str (i32.add (local.get $at) (i32.const 16)) (local.get $id) (local.get $id_len))
      (call $str (i32.add (local.get $at) (i32.const 24)) (local.get $about) (i32.const 31))
      (call $str (i32.add (local.get $at) (i32.const 32)) (local.get $about) (i32.const 31))
      (call $str (i32.add (local.get $at) (i32.const 40)) (i32.const 1056) (i32.const 5))
      (call $str (i32.add (local.get $at) (i32.const 48)) (i32.const 1056) (i32.const 5))
      (call $str (i32.add (local.get $at) (i32.const 56)) (i32.const 1056) (i32.const 5)))

    (func (export "panjereh:adapter/adapter@0.1.0#describe") (result i32)
      (call $str (i32.const 2048) (i32.const 1024) (i32.const 5))
      (call $str (i32.const 2056) (i32.const 1024) (i32.const 5))
      (call $str (i32.const 2064) (i32.const 1024) (i32.const 5))
      (call $str (i32.const 2072) (i32.const 2112) (i32.const 2))
      (call $service (i32.const 2112) (i32.const 1040) (i32.const 4) (i32.const 1072))
      (call $service (i32.const 2240) (i32.const 1048) (i32.const 5) (i32.const 1120))
      (i32.const 2048))

    (func $grow (param $pages i32)
      (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1)) (then unreachable))
      (if (i32.eq (call $grow1 (local.get $pages)) (i32.const -1)) (then unreachable))
      (if (i32.eq (call $grow2 (local.get $pages)) (i32.const -1)) (then unreachable))
      (if (i32.eq (call $grow3 (local.get $pages)) (i32.const -1)) (then unreachable)))

    ;; inquire(ctx, input): the arguments are in memory at `args`; the service's name is
    ;; the second string of the context (offset 8). Answers ok(document "ok").
    (func (export "panjereh:adapter/adapter@0.1.0#inquire") (param $args i32) (result i32)
      (local $pollable i32)
      (if (i32.eq (i32.load offset=12 (local.get $args)) (i32.const 4))
        (then (call $grow (i32.const 384))))
      (if (i32.eq (i32.load offset=12 (local.get $args)) (i32.const 5))
        (then
          (local.set $pollable (call $subscribe (i64.const 1500000000)))
          (call $block (local.get $pollable))
          (call $drop (local.get $pollable))))
      (i32.store8 (i32.const 2400) (i32.const 0))
      (call $str (i32.const 2404) (i32.const 1168) (i32.const 2))
      (call $str (i32.const 2412) (i32.const 1168) (i32.const 2))
      (i32.const 2400))

    (func (export "panjereh:adapter/adapter@0.1.0#submit") (param i32) (result i32) unreachable)
    (func (export "panjereh:adapter/adapter@0.1.0#status") (param i32) (result i32) unreachable)
    (func (export "panjereh:adapter/adapter@0.1.0#on-callback") (param i32 i32) (result i32) unreachable))

  (core instance $host (export "subscribe" (func $subscribe)) (export "block" (func $block))
    (export "drop" (func $drop)))
  (core instance $head1 (instantiate $head))
  (core instance $head2 (instantiate $head))
  (core instance $head3 (instantiate $head))
  (core instance $main (instantiate $main
    (with "host" (instance $host)) (with "head1" (instance $head1)) (with "head2" (instance $head2))
    (with "head3" (instance $head3))))
  ;; 4 instances so far; 12 more make 16.
  (core instance (instantiate $empty)) (core instance (instantiate $empty)) (core instance (instantiate $empty))
  (core instance (instantiate $empty)) (core instance (instantiate $empty)) (core instance (instantiate $empty))
  (core instance (instantiate $empty)) (core instance (instantiate $empty)) (core instance (instantiate $empty))
  (core instance (instantiate $empty)) (core instance (instantiate $empty)) (core instance (instantiate $empty))

  (alias core export $main "memory" (core memory $memory))
  (alias core export $main "cabi_realloc" (core func $realloc))
  (type $describe-type (func (result $agency)))
  (type $inquire-type (func (param "ctx" $call-context) (param "input" (list $value))
    (result (result $document (error $adapter-error)))))
  (type $submit-type (func (param "ctx" $call-context) (param "input" (list $value))
    (result (result $receipt (error $adapter-error)))))
  (type $status-type (func (param "ctx" $call-context) (param "agency-reference" string)
    (result (result $status-update (error $adapter-error)))))
  (type $on-callback-type (func (param "body" (list u8)) (result (result $status-update (error $adapter-error)))))
  (func $describe (type $describe-type)
    (canon lift (core func $main "panjereh:adapter/adapter@0.1.0#describe") (memory $memory) (realloc $realloc)))
  (func $inquire (type $inquire-type)
    (canon lift (core func $main "panjereh:adapter/adapter@0.1.0#inquire") (memory $memory) (realloc $realloc)))
  (func $submit (type $submit-type)
    (canon lift (core func $main "panjereh:adapter/adapter@0.1.0#submit") (memory $memory) (realloc $realloc)))
  (func $status (type $status-type)
    (canon lift (core func $main "panjereh:adapter/adapter@0.1.0#status") (memory $memory) (realloc $realloc)))
  (func $on-callback (type $on-callback-type)
    (canon lift (core func $main "panjereh:adapter/adapter@0.1.0#on-callback") (memory $memory) (realloc $realloc)))
  (instance $adapter
    (export "describe" (func $describe))
    (export "inquire" (func $inquire))
    (export "submit" (func $submit))
    (export "status" (func $status))
    (export "on-callback" (func $on-callback)))
  (export "panjereh:adapter/adapter@0.1.0" (instance $adapter)))
