/**
 * A one-line text box that completes `@mentions` of the team: typing `@` (at the start or after a space) and the
 * first letters of a name lists the teammates whose name (or one of its words) starts so; ↑/↓ choose, Enter or Tab
 * (or a tap) puts `@Name ` in the text, Escape closes the list. It is a combobox for assistive technology: the list
 * is its listbox and the chosen person its active descendant.
 *
 * The list opens above the box when there is more room above it (a phone's keyboard takes the bottom of the
 * screen), else below, and is as wide as the box: it never makes the page wider.
 */
import type { PresenceUser } from '@concord/engine';
import type { Ref } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { nameMatches } from '../team';
import { Avatar } from './Avatar';

/** At most this many people are listed at once; typing more letters narrows it. */
const MAX_SUGGESTIONS = 8;

let lists = 0;

/** The `@query` being typed at `caret` (the position of its `@` and the letters after it), or null. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  const found = /(?:^|[^\p{L}\p{N}_])@([\p{L}\p{N}][\p{L}\p{N}'.\- ]{0,40})?$/u.exec(text.slice(0, caret));
  if (!found) return null;
  const query = found[1] ?? '';
  return { start: caret - query.length - 1, query };
}

interface MentionInputProps {
  value: string;
  onValue: (value: string) => void;
  /** Teammates who can be mentioned (not the person typing). */
  people: readonly PresenceUser[];
  label: string;
  placeholder?: string;
  maxLength?: number;
  testId: string;
  autoFocus?: boolean;
  /** Escape with no list open (an edit or a reply box closes). */
  onEscape?: () => void;
  inputRef?: Ref<HTMLInputElement>;
}

export function MentionInput({ value, onValue, people, label, placeholder, maxLength, testId, autoFocus, onEscape, inputRef }: MentionInputProps) {
  const own = useRef<HTMLInputElement>(null);
  const [listId] = useState(() => `mentions-${++lists}`);
  const [caret, setCaret] = useState<number | null>(null);
  const [focused, setFocused] = useState(false);
  const [active, setActive] = useState(0);
  /** Where the `@` of a list closed with Escape is: it stays closed while that mention is typed. */
  const [dismissed, setDismissed] = useState<number | null>(null);
  const [above, setAbove] = useState(false);

  const typing = focused && caret !== null ? mentionAt(value, caret) : null;
  const matches = typing && typing.start !== dismissed ? people.filter(({ name }) => nameMatches(name, typing.query)).slice(0, MAX_SUGGESTIONS) : [];
  const open = matches.length > 0;
  const chosen = Math.min(active, matches.length - 1);

  useLayoutEffect(() => {
    const input = own.current;
    if (!open || !input) return;
    const box = input.getBoundingClientRect();
    const height = visualViewport?.height ?? innerHeight;
    setAbove(box.top > height - box.bottom);
  }, [open]);

  // A box that opens for a reply or an edit takes the focus, the caret after its text.
  useLayoutEffect(() => {
    const input = own.current;
    if (!autoFocus || !input) return;
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }, []);

  const track = (input: HTMLInputElement) => setCaret(input.selectionStart);

  const pick = (person: PresenceUser) => {
    const input = own.current;
    if (!typing || !input || caret === null) return;
    const before = `${value.slice(0, typing.start)}@${person.name} `;
    const after = value.slice(caret).replace(/^ /, '');
    const next = before + after;
    // Written to the box at once, so the caret can be put after the name before the next render.
    input.value = next;
    input.setSelectionRange(before.length, before.length);
    setCaret(before.length);
    setActive(0);
    onValue(next);
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (!open) {
      if (event.key === 'Escape' && onEscape) {
        // Only this box's: not also a panel that closes on Escape (History).
        event.preventDefault();
        event.stopPropagation();
        onEscape();
      }
      return;
    }
    const person = matches[chosen];
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      setActive((chosen + step + matches.length) % matches.length);
    } else if ((event.key === 'Enter' || event.key === 'Tab') && person) {
      event.preventDefault();
      pick(person);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      setDismissed(typing?.start ?? null);
    }
  };

  return (
    <div class="mention">
      <input
        ref={(element) => {
          own.current = element;
          if (typeof inputRef === 'function') inputRef(element);
          else if (inputRef) inputRef.current = element;
        }}
        data-testid={testId}
        value={value}
        maxLength={maxLength}
        placeholder={placeholder}
        aria-label={label}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={open}
        aria-controls={listId}
        aria-activedescendant={open ? `${listId}-${chosen}` : undefined}
        autoComplete="off"
        onInput={(event) => {
          const input = event.currentTarget;
          track(input);
          const now = mentionAt(input.value, input.selectionStart ?? input.value.length);
          if (dismissed !== null && now?.start !== dismissed) setDismissed(null);
          setActive(0);
          onValue(input.value);
        }}
        onKeyDown={onKeyDown}
        onKeyUp={(event) => track(event.currentTarget)}
        onClick={(event) => track(event.currentTarget)}
        onFocus={(event) => {
          setFocused(true);
          track(event.currentTarget);
        }}
        onBlur={() => setFocused(false)}
      />
      <ul
        id={listId}
        role="listbox"
        aria-label="People to mention"
        class={above ? 'mention__list mention__list--above' : 'mention__list'}
        data-testid="mention-list"
        hidden={!open}
      >
        {matches.map((person, index) => (
          <li
            key={person.id}
            id={`${listId}-${index}`}
            role="option"
            aria-selected={index === chosen}
            class={index === chosen ? 'mention__option mention__option--active' : 'mention__option'}
            data-testid="mention-option"
            data-user-id={person.id}
            // Keeps the focus (and the caret) in the box: the tap picks, it does not blur.
            onMouseDown={(event) => event.preventDefault()}
            onPointerEnter={() => setActive(index)}
            onClick={() => pick(person)}
          >
            <Avatar user={person} small />
            <span class="mention__name">{person.name}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
