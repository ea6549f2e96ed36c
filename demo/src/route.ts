/**
 * Where the person is, in the URL hash, so a reload (or a link) lands on the same screen:
 * `#project=website&view=board&status=open&task=<id>`. Every part is optional; what is missing takes its default
 * (the first project, the list, no filter, no task open). Changing it replaces the history entry, as opening a task
 * always did: the back button leaves the app rather than stepping through every filter change.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { filterFromParams, filterToParams, type TaskFilter } from './filters';
import { PROJECTS, type ProjectId } from './model';

/** How the project's tasks are shown, or the person's own tasks across every project. */
export const SCREENS = ['list', 'board', 'mine'] as const;
export type Screen = (typeof SCREENS)[number];

export interface Route {
  readonly project: ProjectId;
  readonly screen: Screen;
  readonly task: string | null;
  readonly filter: TaskFilter;
}

const DEFAULT_PROJECT = PROJECTS[0].id;

export function parseRoute(hash: string): Route {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const screen = params.get('view');
  return {
    project: params.get('project') || DEFAULT_PROJECT,
    screen: (SCREENS as readonly string[]).includes(screen ?? '') ? (screen as Screen) : 'list',
    task: params.get('task') || null,
    filter: filterFromParams(params),
  };
}

export function formatRoute(route: Route): string {
  const params = new URLSearchParams();
  if (route.project !== DEFAULT_PROJECT) params.set('project', route.project);
  if (route.screen !== 'list') params.set('view', route.screen);
  filterToParams(route.filter, params);
  if (route.task) params.set('task', route.task);
  const hash = params.toString();
  return hash ? `#${hash}` : location.pathname;
}

/** The route, live, and a way to change part of it. */
export function useRoute(): [Route, (change: Partial<Route>) => void] {
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  useEffect(() => {
    const onHashChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHashChange);
    return () => removeEventListener('hashchange', onHashChange);
  }, []);
  const navigate = useMemo(
    () => (change: Partial<Route>) => {
      const next = { ...parseRoute(location.hash), ...change };
      history.replaceState(null, '', formatRoute(next));
      setRoute(next);
    },
    [],
  );
  return [route, navigate];
}
