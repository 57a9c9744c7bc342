/* Inserts the SDK's script tag with the order of this page's URL as its
 * data- attributes (what a shop's template would write). */
(function () {
	var q = new URLSearchParams(location.search);
	var s = document.createElement('script');
	s.src = '/sdk/afftok.js';
	var attrs = {tx: 'data-transaction-id', amount: 'data-amount', currency: 'data-currency',
		     event: 'data-event', transport: 'data-transport'};
	for (var k in attrs)
		if (q.get(k))
			s.setAttribute(attrs[k], q.get(k));
	document.body.appendChild(s);
})();
