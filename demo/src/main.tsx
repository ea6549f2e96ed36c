import { render } from 'preact';
import { registerSW } from 'virtual:pwa-register';
import { App } from './components/App';
import './styles.css';

render(<App />, document.getElementById('app') as HTMLElement);

// The offline app shell: cache the app so a reload with no network still opens it (see vite.config.ts).
registerSW({ immediate: true });
