/**
 * The header's secondary controls (presence, outbox and sync now, update frequency, bell, who you are). On a wide
 * screen they sit in the header as they are; on a narrow one (styles.css, below 900 px) they fold behind one menu
 * button, whose badge carries the unread count so a lit bell is seen with the menu closed. Escape, or a tap outside
 * the menu, closes it.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

interface HeaderMenuProps {
  /** Unread notifications, shown on the menu button. */
  unread: number;
  /** The menu's contents, handed a function that closes the menu (after an action that leaves it, say). */
  children: (closeMenu: () => void) => ComponentChildren;
}

export function HeaderMenu({ unread, children }: HeaderMenuProps) {
  const [open, setOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') setOpen(false);
    };
    const onPointer = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!toggle.current?.contains(target) && !menu.current?.contains(target)) setOpen(false);
    };
    addEventListener('keydown', onKey);
    addEventListener('pointerdown', onPointer);
    return () => {
      removeEventListener('keydown', onKey);
      removeEventListener('pointerdown', onPointer);
    };
  }, [open]);
  return (
    <>
      <button
        ref={toggle}
        type="button"
        class="menu-toggle"
        data-testid="menu-toggle"
        aria-expanded={open}
        aria-controls="board-menu"
        aria-label={unread > 0 ? `Menu: ${unread} unread notification${unread === 1 ? '' : 's'}` : 'Menu'}
        onClick={() => setOpen(!open)}
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
          <path
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            d={open ? 'M6 6l12 12M18 6L6 18' : 'M4 7h16M4 12h16M4 17h16'}
          />
        </svg>
        {unread > 0 && (
          <span class="menu-toggle__badge" data-testid="menu-badge">
            {unread}
          </span>
        )}
      </button>
      <div ref={menu} id="board-menu" class={open ? 'board__menu board__menu--open' : 'board__menu'} data-testid="header-menu">
        {children(() => setOpen(false))}
      </div>
    </>
  );
}
